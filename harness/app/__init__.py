"""Floor 4, app: the run configuration, the pipeline and the command line.

``config`` (the frozen ``RunConfig``, from YAML or flags), ``pipeline`` (generate -> judge ->
rate -> report in a run directory), ``cli`` (the parser and ``main``), ``args`` (flags -> config),
``commands`` (what each command does), ``dryrun``, ``finetune_command``, ``agreement_command``
(``harness agreement``), ``import_command`` (``harness import``) and ``labels`` (human label
import).

May import every floor below; nothing imports the app.
"""
