"""Worker entry points (django.tasks, run by django-tasks-db's db_worker): an Ansible run never blocks a
web request."""

from django.tasks import task

from . import jobs


@task()
def run_job(job_id: int) -> str:
    return jobs.execute(job_id).status
