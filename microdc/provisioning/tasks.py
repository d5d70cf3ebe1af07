"""Worker entry points (django.tasks, run by django-tasks-db's db_worker): an Ansible run never blocks a
web request."""

from django.tasks import TaskResultStatus, task

from . import jobs


@task()
def run_job(job_id: int) -> str:
    return jobs.execute(job_id).status


def task_outstanding(job_id: int) -> bool | None:
    """Whether a run_job task for the job is still waiting or running; None when the task backend keeps no
    record to ask (only django-tasks-db's database backend does)."""
    from django_tasks_db.backend import DatabaseBackend

    if not isinstance(run_job.get_backend(), DatabaseBackend):
        return None
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.filter(
        task_path=run_job.module_path, args_kwargs__args__0=job_id,
        status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING]).exists()
