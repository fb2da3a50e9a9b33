"""Hub conventions: pushing is opt-in and says what it needs; the card config composes with it off."""

import pytest

from ereignis.card.card import push_model_folder
from tests.conftest import compose_config


def test_push_to_hub_is_opt_in_and_names_the_repository_it_needs(tmp_path):
    assert compose_config("card", ["run_dir=/tmp/run"]).card.push_to_hub is False
    with pytest.raises(ValueError, match="card.repo_id=<org>/<name>"):
        push_model_folder(tmp_path, None, private=True)
