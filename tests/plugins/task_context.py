"""What Airflow's task runner hands an operator's execute, for calling operators directly."""


class TaskInstance:
    """The parts of Airflow's runtime task instance the mlrail operators use."""

    dag_id, run_id, try_number, map_index = "taxi_tips_training", "r1", 1, -1

    def __init__(self, task_id: str = "train"):
        self.task_id = task_id
        self.xcoms = {}

    def xcom_push(self, key, value):
        self.xcoms[key] = value


def context(ti: TaskInstance | None = None, task_id: str = "train", **params) -> dict:
    return {
        "ti": ti or TaskInstance(task_id),
        "run_id": "r1",
        "params": {"force": False, **params},
    }
