"""The Fine-tuning lab's session store (models/lab.py): at most max_kept fine-tuned models, the one trained longest
ago freed first; closing a tab frees its model at once; sessions held weakly, so a forgotten one is collected with its
model; one training per session at a time. Fake models: the store only needs their parameters' device."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref

import pytest
import torch

from bertviz_ui.errors import BadInput
from bertviz_ui.models import lab
from bertviz_ui.models.lab import MAX_KEPT_MODELS, LabSession, Sessions, close_state, require_trained


class Trained:
    """What the store needs of a TrainedModel: a model whose parameters say where it lives."""

    def __init__(self):
        self.model = torch.nn.Linear(1, 1)


def _kept(sessions, *owners):
    """Give each session a new model in turn; returns weak references to the models."""
    refs = []
    for session in owners:
        trained = Trained()
        refs.append(weakref.ref(trained))
        sessions.keep(session, trained)
        del trained
    gc.collect()
    return refs


def test_at_most_max_kept_models_are_held_the_oldest_freed_first():
    sessions = Sessions(max_kept=2)
    first, second, third, fourth = (LabSession() for _ in range(4))
    models = dict(zip((first, second, third), _kept(sessions, first, second, third)))
    assert first.trained is None and first.evicted and models[first]() is None
    assert second.trained is not None and third.trained is not None and sessions.kept == 2
    assert not second.evicted and not third.evicted
    with pytest.raises(BadInput, match="freed to make room: this server keeps at most"):
        require_trained(first)
    sessions.keep(second, Trained())  # trained again: now the newest
    sessions.keep(fourth, Trained())
    assert third.trained is None and third.evicted and second.trained is not None and fourth.trained is not None
    sessions.keep(first, Trained())  # an evicted session trains again
    assert not first.evicted and first.trained is not None and second.trained is None and sessions.kept == 2
    assert require_trained(first) is first.trained


def test_eviction_frees_through_the_shared_lru(monkeypatch):
    freed = []
    monkeypatch.setattr(lab, "release_memory", freed.append)
    sessions = Sessions(max_kept=1)
    assert sessions._kept.max_entries == 1  # the shared BoundedLRU bounds the count
    first, second = LabSession(), LabSession()
    _kept(sessions, first, second)
    assert freed == ["cpu"] and first.evicted and first.trained is None
    assert [ref() for ref in sessions._kept.values()] == [second]


def test_retraining_replaces_a_sessions_model_without_evicting_another():
    sessions = Sessions(max_kept=2)
    first, second = LabSession(), LabSession()
    old_first, _ = _kept(sessions, first, second)
    _kept(sessions, first)  # first trains again: it keeps one place, its old model is gone
    assert old_first() is None and second.trained is not None and not second.evicted and sessions.kept == 2


def test_a_session_that_lost_its_model_gives_its_place_up():
    sessions = Sessions(max_kept=2)
    first, second, third = LabSession(), LabSession(), LabSession()
    _kept(sessions, first, second)
    second.drop_model("cpu")  # it trains again: its old model is dropped first
    _kept(sessions, third)
    assert first.trained is not None and not first.evicted and sessions.kept == 2


def test_closing_a_tab_frees_its_model_and_folder_at_once():
    sessions = Sessions()
    session = sessions.get(None, "tab-a")
    assert sessions.get(session, "tab-a") is session and len(sessions) == 1
    (model,) = _kept(sessions, session)
    folder = session.folder()
    assert folder.is_dir() and folder.name.startswith("bertviz-finetune-")
    sessions.close("tab-a")
    gc.collect()
    assert session.closed and session.cancel.is_set() and session.trained is None and model() is None
    assert not folder.exists() and session.workdir is None and len(sessions) == 0 and sessions.kept == 0
    assert sessions.get(session, "tab-a") is not session  # a closed session is never reused
    sessions.close("never-seen")
    sessions.close(None)


def test_sessions_without_a_hash_are_not_registered():
    sessions = Sessions()
    session = sessions.get(None, None)
    assert isinstance(session, LabSession) and len(sessions) == 0


def test_a_forgotten_session_is_collected_with_its_model_though_it_was_kept():
    """Gradio may drop a session's state without its delete callback: neither the hash registry nor the LRU of kept
    models may keep it (or its model) alive."""
    sessions = Sessions(max_kept=2)
    session = sessions.get(None, "tab-b")
    (model,) = _kept(sessions, session)
    session_ref = weakref.ref(session)
    del session
    gc.collect()
    assert session_ref() is None and model() is None
    assert len(sessions) == 0 and sessions.kept == 0


def test_a_forgotten_sessions_place_is_pruned_not_paid_for_by_another():
    sessions = Sessions(max_kept=2)
    first, second, third = LabSession(), LabSession(), LabSession()
    _kept(sessions, first, second)
    del second
    gc.collect()
    _kept(sessions, third)  # without pruning, the dead entry would push first's model out
    assert first.trained is not None and not first.evicted and third.trained is not None and sessions.kept == 2


def test_the_state_delete_callback_closes_lab_sessions_only():
    session = LabSession()
    (model,) = _kept(Sessions(), session)
    close_state(session)
    gc.collect()
    assert session.closed and session.trained is None and model() is None
    close_state(None)
    close_state("not a session")


def test_one_training_run_per_session_and_the_lock_is_released_after(monkeypatch):
    freed = []
    monkeypatch.setattr(lab, "release_memory", freed.append)
    session = LabSession()
    session.cancel.set()  # left over from a cancelled run
    with session.training_run("cpu"):
        assert session.training and not session.cancel.is_set()
        with pytest.raises(BadInput, match="already training a model: wait for it to finish, or press Cancel"), \
                session.training_run("cpu"):
            pass
    assert not session.training and freed == ["cpu"]
    with pytest.raises(RuntimeError), session.training_run("cpu"):
        raise RuntimeError("training failed")
    assert not session.training and freed == ["cpu", "cpu"]


def test_dropping_the_model_before_training_again_frees_it():
    session = LabSession()
    (model,) = _kept(Sessions(), session)
    session.drop_model("cpu")
    assert session.trained is None and model() is None


def test_no_model_yet_is_a_user_error():
    with pytest.raises(BadInput, match="No fine-tuned model in this session yet: press Train first"):
        require_trained(None)
    with pytest.raises(BadInput, match="No fine-tuned model in this session yet"):
        require_trained(LabSession())
    assert MAX_KEPT_MODELS == 8


def test_the_store_imports_no_gradio_and_no_task():
    code = ("import sys, bertviz_ui.models.lab; "
            "print(sorted(m for m in sys.modules if m == 'gradio' or m.startswith(('bertviz_ui.tasks', "
            "'bertviz_ui.ui', 'bertviz_ui.render'))))")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert shown.stdout.strip() == "[]"
