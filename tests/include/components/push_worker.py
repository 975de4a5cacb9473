"""Push in a process that is killed (SIGKILL) while copying the model into the serving
folder: ``python -m tests.include.components.push_worker <settings json> <args json>``.

The kill is injected by replacing ``shutil.copy2`` in this process only, at the moment
the push copies ``saved_model.pb`` (the last file of a copy), so the hidden copy is
partial, exactly as when a worker dies mid-copy.
"""

from __future__ import annotations

import json
import sys

from mlrail.components import push
from mlrail.store.runner import Env, RunInfo, run_component
from mlrail.store.settings import Settings
from tests.include.components.faults import die_when_copying_saved_model

if __name__ == "__main__":
    settings = Settings(**json.loads(sys.argv[1]))
    args = json.loads(sys.argv[2])
    env = Env.open(settings)
    inputs = {
        "model": env.metadata.get_artifact(args["model"]),
        "blessing": env.metadata.get_artifact(args["blessing"]),
        "infra_blessing": env.metadata.get_artifact(args["infra"]),
    }
    die_when_copying_saved_model()
    run = RunInfo("taxi", run_id=args["run_id"], dag_id="taxi_training", task_id="push")
    params = {"model_name": "taxi", "serving_root": settings.serving_root}
    run_component(env, push.COMPONENT, inputs, params, run)
