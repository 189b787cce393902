"""Teaching a class on a JupyterHub: deployment files, class links, collecting and returning work.

For instructors (the README's "For instructors"; the capacity math behind
`llm-course class plan` is `course_lib.choose.capacity`, derived in notebook 07).
`deploy` writes the Zero to JupyterHub values and the Littlest JupyterHub recipe
from the course's measured notebook peaks; `links` makes the nbgitpuller URL that
hands the course out; `hub` talks to the hub's API and to each learner's server;
`collect` brings exercise notebooks in for `llm-course grade` and sends the
feedback back, without nbgrader's shared exchange.
"""

from course_lib.classroom.collect import (EXERCISE_NOTEBOOKS, EXERCISES, FEEDBACK, Collected, check_class_folder,
                                          collect_submissions, grade_class, return_feedback)
from course_lib.classroom.deploy import (CULL_TIMEOUT_S, deploy_files, tljh_config, tljh_install, write_deploy,
                                         z2jh_values)
from course_lib.classroom.hub import SERVICE_NAME, SERVICE_SCOPES, HubClient, read_token
from course_lib.classroom.links import COURSE_FOLDER, FIRST_NOTEBOOK, check_hub_url, git_pull_link

__all__ = [
    "COURSE_FOLDER", "FIRST_NOTEBOOK", "check_hub_url", "git_pull_link", "SERVICE_NAME", "SERVICE_SCOPES",
    "HubClient", "read_token", "EXERCISES", "EXERCISE_NOTEBOOKS", "FEEDBACK", "Collected", "collect_submissions",
    "check_class_folder", "grade_class", "return_feedback", "CULL_TIMEOUT_S", "z2jh_values", "tljh_config",
    "tljh_install", "deploy_files", "write_deploy",
]
