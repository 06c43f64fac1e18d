// harness human serve: keyboard shortcuts and voting without a page reload of its own.
// 1 = Answer 1 better, 2 = Answer 2 better, 3 = tie, 4 = both bad. A vote carries the page's
// nonce, so a double click or a retried request is stored once.
(function () {
  "use strict";
  var vote = document.getElementById("vote");
  var undo = document.getElementById("undo");
  var status = document.getElementById("status");
  var progress = document.getElementById("progress");
  var started = performance.now();
  var busy = false;
  var KEYS = { "1": "1", "2": "2", "3": "tie", "4": "bothbad" };

  function post(form, extra) {
    var data = new URLSearchParams(new FormData(form));
    Object.keys(extra).forEach(function (k) { data.set(k, extra[k]); });
    return fetch(form.action, {
      method: "POST", body: data, credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (r) {
      // 409: this page's nonce was used for another request; the reply says where to see what is stored.
      if (!r.ok && r.status !== 409) { throw new Error("HTTP " + r.status); }
      return r.json();
    });
  }

  function after(res) {
    if (!res.ok) {
      if (status && vote) { status.textContent = vote.dataset.error; }
      window.location.assign(res.next + window.location.search);
      return;
    }
    if (progress && progress.dataset.format) {
      progress.textContent = progress.dataset.format
        .replace("{answered}", res.answered).replace("{total}", res.total);
    }
    if (status && vote) { status.textContent = vote.dataset.saved; }
    window.location.assign(res.next + window.location.search);
  }

  function fail() {
    busy = false;
    if (status && vote) { status.textContent = vote.dataset.error; }
  }

  function cast(choice) {
    if (busy || !vote) { return; }
    busy = true;
    var seconds = ((performance.now() - started) / 1000).toFixed(3);
    post(vote, { choice: choice, seconds: seconds }).then(after, fail);
  }

  if (vote) {
    vote.addEventListener("submit", function (e) {
      e.preventDefault();
      if (e.submitter && e.submitter.value) { cast(e.submitter.value); }
    });
  }
  if (undo) {
    undo.addEventListener("submit", function (e) {
      e.preventDefault();
      if (busy) { return; }
      busy = true;
      post(undo, {}).then(after, fail);
    });
  }
  document.addEventListener("keydown", function (e) {
    var tag = e.target && e.target.tagName;
    if (tag === "TEXTAREA" || tag === "INPUT" || e.ctrlKey || e.metaKey || e.altKey) { return; }
    if (KEYS[e.key] && vote) {
      e.preventDefault();
      cast(KEYS[e.key]);
    } else if (e.key === "ArrowLeft" || e.key === "ArrowRight") {
      var link = document.getElementById(e.key === "ArrowLeft" ? "prev" : "next");
      if (link) { link.click(); }
    }
  });
}());
