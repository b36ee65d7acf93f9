"""A shared task board (``Dict`` and ``Set`` traits): ``traitsweb serve examples.taskboard:create``.

Clients add a task by writing its title to ``new_task`` (words starting with
``#`` become its tags), and complete or remove one by writing its id to
``complete`` or ``remove``; an id that is not on the board is refused by the
trait's validation. ``tasks`` maps ids to tasks and travels as dict item
changes; ``tags`` (every tag in use) as set item changes. The board also
tidies itself: a task done for ``archive_after`` seconds is taken off it.
"""

from __future__ import annotations

import time
from typing import Any

from traits.api import Bool, Callable, ComparisonMode, Dict, Float, HasStrictTraits, Instance, Int, List, Set, Str
from traits.api import observe

from traitsweb.background import Scheduler
from traitsweb.bridge import BoundedStr, SessionHandler, SharedModel

__all__ = ["Task", "TaskBoard", "TaskBoardHandler", "create"]


class Task(HasStrictTraits):
    title = Str()
    tags = List(Str)
    done = Bool(False)
    #: who added it
    by = Str()
    #: when it was done (seconds since the epoch), 0 while open
    done_at = Float(0.0)


class TaskBoard(SharedModel):
    tasks = Dict(Str, Instance(Task), exposed=True, label="Tasks")
    tags = Set(Str, exposed=True, label="Tags", desc="every tag of a task on the board")
    #: tasks ever added; the next task's id is ``t<created + 1>``
    created = Int(0, exposed=True, label="Created")

    #: seconds a done task stays on the board
    archive_after = Float(300.0)
    clock = Callable(time.time)

    def start(self, scheduler: Scheduler) -> None:
        scheduler.every(1.0, self.archive_done)

    def add(self, session: str, text: str) -> str:
        words = text.split()
        tags = sorted({w[1:] for w in words if w.startswith("#") and len(w) > 1})
        title = " ".join(w for w in words if not (w.startswith("#") and len(w) > 1)) or text.strip()
        self.created += 1
        task_id = f"t{self.created}"
        self.tasks[task_id] = Task(title=title, tags=tags, by=self.participants.get(session, "?"))
        self.tags.update(set(tags) - self.tags)
        return task_id

    def complete(self, task_id: str) -> None:
        task = self.tasks[task_id]
        if not task.done:
            self.tasks[task_id] = Task(title=task.title, tags=task.tags, by=task.by, done=True, done_at=self.clock())

    def remove(self, task_id: str) -> None:
        del self.tasks[task_id]
        in_use = {tag for task in self.tasks.values() for tag in task.tags}
        self.tags.difference_update(self.tags - in_use)

    def archive_done(self) -> None:
        """Take off the tasks done more than ``archive_after`` seconds ago (on the service's lock)."""
        limit = self.clock() - self.archive_after
        for task_id in [i for i, task in self.tasks.items() if task.done and task.done_at < limit]:
            self.remove(task_id)


class TaskId(BoundedStr):
    """The id of a task on the handler's board."""

    def __init__(self, **metadata: Any) -> None:
        super().__init__(minlen=1, maxlen=32, **metadata)

    def validate(self, object: Any, name: str, value: Any) -> str:
        if isinstance(value, str) and value in object.model.tasks:
            return value
        self.error(object, name, value)

    def info(self) -> str:
        return "the id of a task on the board"


class TaskBoardHandler(SessionHandler):
    model = Instance(TaskBoard)
    new_task = BoundedStr(minlen=1, maxlen=200, client=True, comparison_mode=ComparisonMode.none, label="New task")
    complete = TaskId(client=True, comparison_mode=ComparisonMode.none, label="Complete")
    remove = TaskId(client=True, comparison_mode=ComparisonMode.none, label="Remove")

    @observe("new_task")
    def _add(self, event: object) -> None:
        self.model.add(self.session, self.new_task)

    @observe("complete")
    def _complete(self, event: object) -> None:
        self.model.complete(self.complete)

    @observe("remove")
    def _remove(self, event: object) -> None:
        self.model.remove(self.remove)


TaskBoard.handler_class = TaskBoardHandler


def create() -> TaskBoard:
    return TaskBoard()
