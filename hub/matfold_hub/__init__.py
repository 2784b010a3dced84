"""matfold_hub: how users reach matfold: ``matfold lab`` alone, ``matfold hub`` for a JupyterHub.

The JupyterHub classes (``auth.MatfoldNativeAuthenticator``, ``spawner.MatfoldLocalSpawner``)
are named by import string in jupyterhub_config.py and not imported here: ``matfold lab``
works without the hub's extras.
"""

from .accounts import check_username, system_username
from .classrooms import Classroom, classroom_groups, classroom_roles, load_classrooms
from .lab import lab_command, run_lab
from .launcher import config_file, run_hub
from .profiles import PROFILES, Profile, gpus_visible, kubespawner_profile_list
from .settings import MatfoldHub
from .user_env import copy_notebooks

__all__ = [
    "PROFILES",
    "Classroom",
    "MatfoldHub",
    "Profile",
    "check_username",
    "classroom_groups",
    "classroom_roles",
    "config_file",
    "copy_notebooks",
    "gpus_visible",
    "kubespawner_profile_list",
    "lab_command",
    "load_classrooms",
    "run_hub",
    "run_lab",
    "system_username",
]
