"""Near-duplicate filtering by ROUGE-L: the naive Self-Instruct loop against the index (issue 20).

Self-Instruct keeps a generated instruction only if its ROUGE-L F against every kept one is below
0.7. For each language (English, then Chinese, compared by characters) the script writes its own
instruction-like sentences from template phrases and a vocabulary (seeded, no third-party text):
``--kept`` records to keep and ``--candidates`` to check, of which about 8% are a kept record with
1-3 token edits (substitution, insertion, deletion, swap), about 4% one with 4-6 edits (near the
threshold) and the rest fresh sentences (some of which duplicate a kept one by chance, as in a
real generator). A sentence is an opener, a task and a closer phrase with slots, plus made-up
content words (syllables; in Chinese, characters drawn Zipf-like), for the vocabulary size of
real instructions. Then, in the same process and on the same tokens:

* naive: ``naive_find(candidate, kept)`` for every candidate (one ROUGE-L per kept record);
* index: ``NearDuplicateIndex.add`` for every kept record, then ``find`` for every candidate.

Both must give the identical ``Match`` (or None) for every candidate; the script stops otherwise.
It prints one summary line per language: duplicates found, both times and the ratio naive / index
(target >= 20x). The naive loop over 10,000 x 10,000 pairs takes minutes in pure Python; progress
goes to stderr.

    python benchmarks/bench_dedup.py [--kept 10000] [--candidates 10000] [--language en|zh|both]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable

from harness.stats.dedup import Match, NearDuplicateIndex, naive_find, rouge_tokens

# A sentence is an opener, a core task and a closer, each drawn apart and filled from the slot
# vocabularies below: the same template with other fillers mostly stays under 0.7.
EN_OPENERS = ("", "Please", "Could you", "I need you to", "As a {person},", "For {audience},",
              "In {number} paragraphs,", "Quickly", "Step by step,", "Without jargon,")
EN_CORES = (
    "write a {adj} {genre} about {topic}",
    "explain how {topic} affects {topic2}",
    "give {number} {adj} ideas for a {genre} on {topic}",
    "summarize this {genre} about {topic}",
    "list {number} questions a {person} might ask about {topic}",
    "describe the differences between {topic} and {topic2}",
    "draft a {genre} that introduces {topic} to {audience}",
    "name {number} common mistakes {audience} make with {topic}",
    "compare {topic} with {topic2} from the view of a {person}",
    "plan a {adj} lesson on {topic}",
    "rewrite the {genre} below so {audience} understand {topic}",
    "suggest {number} ways to improve {topic} in {place}",
)
EN_CLOSERS = ("", "", ".", "in {number} sentences.", "for {audience}.", "using {adj} language.",
              "with examples from {place}.", "and cite {number} sources.", "as a table.",
              "in under {number} hundred words, noting","with a {adj} tone.", "mentioning {topic2}.")
EN_WORDS = {
    "adj": "short funny formal detailed persuasive simple clear friendly critical balanced vivid "
           "concise technical playful serious gentle bold neutral upbeat careful".split(),
    "genre": "poem story essay report speech letter review dialogue summary tutorial outline "
             "email blog article memo guide checklist".split(),
    "audience": "children students retirees engineers doctors teachers tourists parents managers "
                "beginners investors farmers voters nurses".split(),
    "number": "two three four five six seven eight nine ten twelve".split(),
    "person": "journalist lawyer student chef driver farmer scientist programmer nurse banker "
              "historian coach pilot mayor".split(),
    "place": "Kenya Peru Norway Japan Chile Ghana Iceland Canada Spain Vietnam Egypt Brazil".split(),
}
EN_QUALS = ("urban rural ancient modern ocean forest family school online medical financial "
            "agricultural renewable public private digital local global coastal mountain desert "
            "arctic tropical industrial").split()
EN_THINGS = ("transport education diets music architecture law energy climate tourism sports "
             "history trade banking farming housing water air pollution storage networks "
             "markets healthcare insurance taxes wildlife fisheries forests rivers roads "
             "bridges").split()

ZH_OPENERS = ("", "请", "麻烦你", "作为{person}，", "面向{audience}，", "用{number}段话", "简要地",
              "一步一步地", "不用术语，")
ZH_CORES = (
    "写一篇关于{topic}的{genre}",
    "解释{topic}如何影响{topic2}",
    "列出{number}个{person}会问的{topic}问题",
    "总结这篇{topic}{genre}",
    "比较{topic}和{topic2}的区别",
    "为{audience}设计{topic}{genre}提纲",
    "介绍{topic}的基本知识",
    "指出{audience}在{topic}上的{number}个错误",
    "从{person}的角度评价{topic}",
    "规划一堂{topic}课",
    "改写下面的{genre}，让{audience}读懂{topic}",
    "提出{number}条改进{place}{topic}的建议",
)
ZH_CLOSERS = ("", "", "。", "，不超过{number}句话。", "，并举例说明。", "，参考{place}的经验。",
              "，用表格呈现。", "，语气{adj}。", "，提到{topic2}。", "，附{number}个来源。")
ZH_WORDS = {
    "adj": "幽默 正式 亲切 严肃 简洁 生动 客观 热情 冷静 温和".split(),
    "genre": "文章 诗歌 故事 报告 演讲稿 说明书 评论 对话 总结 教程 邮件 博客".split(),
    "audience": "小学生 大学生 老年人 工程师 医生 教师 游客 家长 经理 新手 投资者 农民".split(),
    "number": "两 三 四 五 六 七 八 九 十".split(),
    "person": "记者 律师 学生 厨师 司机 农民 科学家 程序员 护士 银行家 历史学家 教练".split(),
    "place": "肯尼亚 秘鲁 挪威 日本 智利 加纳 冰岛 加拿大 西班牙 越南 埃及 巴西".split(),
}
ZH_QUALS = ("城市 乡村 古代 现代 海洋 森林 家庭 学校 网络 医疗 金融 农业 公共 数字 沿海 山区 "
            "沙漠 工业").split()
ZH_THINGS = ("交通 教育 饮食 音乐 建筑 法律 能源 气候 旅游 体育 历史 贸易 住房 水源 空气 污染 "
             "保险 税收 野生动物 河流 桥梁").split()
ZH_FILLER = list("的了在是有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下"
                 "过子说产种面而方后多定行学法所民得经")


ZH_CHARS = ("春夏秋冬山水风雨花草树木鸟鱼虫兽金银铜铁石玉光影声色心手足口目耳天地日月星云江河湖海"
            "东西南北红黄蓝绿黑白高低长短新旧快慢轻重冷热早晚多少远近明暗古今内外上下前后左右")
SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]


def _content_words(rng: random.Random, language: str, count: int = 2000) -> list[str]:
    """Made-up content words (two or three syllables; in Chinese two characters, from the list above
    or drawn Zipf-like from the first 3,000 CJK code points): the variety real instructions get
    from their subject matter, which templates alone lack."""
    if language == "zh":
        chars = list(ZH_CHARS) + [chr(0x4E00 + k) for k in range(3000)]
        weights = [1 / (rank + 10) for rank in range(len(chars))]
        return ["".join(rng.choices(chars, weights, k=2)) for _ in range(count)]
    return ["".join(rng.choices(SYLLABLES, k=rng.randint(2, 3))) for _ in range(count)]


def _sentence(rng: random.Random, parts: tuple[tuple[str, ...], ...], words: dict[str, list[str]],
              quals: list[str], things: list[str], content: list[str], sep: str) -> str:
    slots = {k: rng.choice(v) for k, v in words.items()}
    for topic in ("topic", "topic2"):
        slots[topic] = sep.join([rng.choice(quals), *rng.sample(content, rng.randint(1, 2)),
                                 rng.choice(things)])
    detail = sep.join(rng.sample(content, rng.randint(1, 3)))
    return sep.join([*(rng.choice(part) for part in parts), detail]).format(**slots)


def _edit(rng: random.Random, tokens: list[str], edits: int, pool: list[str]) -> list[str]:
    out = list(tokens)
    for _ in range(edits):
        kind = rng.randrange(4)
        i = rng.randrange(len(out))
        if kind == 0:
            out[i] = rng.choice(pool)
        elif kind == 1:
            out.insert(i, rng.choice(pool))
        elif kind == 2 and len(out) > 4:
            del out[i]
        elif i + 1 < len(out):
            out[i], out[i + 1] = out[i + 1], out[i]
    return out


def make_data(language: str, kept: int, candidates: int,
              seed: int = 20) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """``kept`` and ``candidates`` token sequences, as tokenized by ``rouge_tokens``."""
    rng = random.Random(f"{seed}-{language}")
    content = _content_words(rng, language)
    if language == "en":
        def fresh() -> str:
            return _sentence(rng, (EN_OPENERS, EN_CORES, EN_CLOSERS), EN_WORDS, EN_QUALS, EN_THINGS,
                             content, " ")
        pool = [w for ws in EN_WORDS.values() for w in ws] + EN_QUALS + EN_THINGS
        sep = " "
    else:
        def fresh() -> str:
            return _sentence(rng, (ZH_OPENERS, ZH_CORES, ZH_CLOSERS), ZH_WORDS, ZH_QUALS, ZH_THINGS,
                             content, "")
        pool = ZH_FILLER + [c for ws in ZH_WORDS.values() for w in ws for c in w]
        sep = ""
    kept_texts = [fresh() for _ in range(kept)]
    kept_tokens = [rouge_tokens(t) for t in kept_texts]
    cand_texts = []
    for _ in range(candidates):
        roll = rng.random()
        if roll < 0.12:
            source = list(rng.choice(kept_tokens))
            edits = rng.randint(1, 3) if roll < 0.08 else rng.randint(4, 6)
            cand_texts.append(sep.join(_edit(rng, source, edits, pool)))
        else:
            cand_texts.append(fresh())
    return kept_tokens, [rouge_tokens(t) for t in cand_texts]


def _timed(label: str, total: int, step: Callable[[int], Match | None]) -> tuple[list[Match | None], float]:
    out = []
    start = time.perf_counter()
    every = max(1, total // 20)
    for i in range(total):
        out.append(step(i))
        if (i + 1) % every == 0 and label == "naive":
            elapsed = time.perf_counter() - start
            print(f"  {label}: {i + 1}/{total} candidates, {elapsed:.0f} s, "
                  f"~{elapsed / (i + 1) * (total - i - 1):.0f} s left", file=sys.stderr, flush=True)
    return out, time.perf_counter() - start


def run(language: str, kept: int, candidates: int, threshold: float) -> None:
    kept_tokens, cand_tokens = make_data(language, kept, candidates)
    lengths = [len(t) for t in kept_tokens + cand_tokens]
    print(f"{language}: {kept} kept, {candidates} candidates, {min(lengths)}-{max(lengths)} tokens "
          f"(mean {sum(lengths) / len(lengths):.1f}), threshold {threshold}", flush=True)

    start = time.perf_counter()
    index = NearDuplicateIndex(threshold)
    for tokens in kept_tokens:
        index.add(tokens)
    build = time.perf_counter() - start
    indexed, find = _timed("index", candidates, lambda i: index.find(cand_tokens[i]))
    naive, naive_s = _timed("naive", candidates,
                            lambda i: naive_find(cand_tokens[i], kept_tokens, threshold))

    differ = [i for i, (a, b) in enumerate(zip(naive, indexed)) if a != b]
    if differ:
        i = differ[0]
        raise SystemExit(f"{language}: {len(differ)} decisions differ; first: candidate {i} "
                         f"naive {naive[i]} index {indexed[i]}")
    found = [m for m in naive if m is not None]
    near = sum(m.score < threshold + 0.05 for m in found)
    exact = sum(m.score == threshold for m in found)
    index_s = build + find
    print(f"  near-duplicates: {len(found)} of {candidates} ({len(found) / candidates:.1%}); "
          f"{near} within 0.05 above the threshold, {exact} exactly on it")
    print(f"  naive loop: {naive_s:.1f} s ({naive_s / (kept * candidates) * 1e6:.2f} us a pair)")
    print(f"  index: {index_s:.2f} s (add {build:.2f} s + find {find:.2f} s)")
    print(f"SUMMARY {language}: {candidates} x {kept}: {len(found)} duplicates, decisions identical; "
          f"naive {naive_s:.1f} s, index {index_s:.2f} s, ratio {naive_s / index_s:.0f}x "
          f"(target >= 20x)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kept", type=int, default=10_000, help="records kept before the check (10000)")
    parser.add_argument("--candidates", type=int, default=10_000, help="records checked (10000)")
    parser.add_argument("--language", choices=("en", "zh", "both"), default="both")
    parser.add_argument("--threshold", type=float, default=0.7)
    args = parser.parse_args()
    for language in ("en", "zh") if args.language == "both" else (args.language,):
        run(language, args.kept, args.candidates, args.threshold)


if __name__ == "__main__":
    main()
