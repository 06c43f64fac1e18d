"""Floor 7, app: the run configuration, the pipeline and the command line.

``config`` (the frozen ``RunConfig``, from YAML or flags), ``pipeline`` (generate -> judge ->
rate -> report in a run directory), ``cli`` (lists the commands and keeps ``main``), ``args`` (the
option groups several commands share, and flags -> config), ``output`` (tables, run summaries and
the judge-health exit status several commands print), ``dryrun``, ``labels`` (human label import)
and one module per command, each with ``add_parser(sub)`` and ``run(args)``: ``run_command``,
``generate_command``, ``judge_command``, ``rate_command``, ``bias_command``, ``human_command``
(it starts the voting app, :mod:`harness.web`), ``report_command``, ``finetune_command``,
``agreement_command``, ``compare_command``, ``recheck_command``, ``synth_command``,
``import_command``, ``tasks_command`` and ``prompts_command``.

May import every floor below; nothing imports the app.
"""
