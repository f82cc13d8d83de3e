"""LangGraph on skillstore: a graph that pauses before ``review`` and resumes later.

Each step may run in a fresh process (as a web worker or a queue consumer would):
``python examples/langgraph_resume.py start <team_id> <thread>`` runs it to the
interrupt, ``... resume <team_id> <thread>`` finishes it from the checkpoint. The store
comes from ``SKILLSTORE_*`` (install from a checkout with ``pip install '.[langgraph]'``).
"""

from __future__ import annotations

import asyncio
import operator
import sys
import uuid
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph

from skillstore import Store, StoreSettings
from skillstore.integrations.langgraph import SkillstoreSaver


class State(TypedDict):
    steps: Annotated[list[str], operator.add]


def draft(state: State) -> dict[str, Any]:
    return {"steps": ["draft"]}


def review(state: State) -> dict[str, Any]:
    return {"steps": ["review"]}


async def main(step: str, team_id: uuid.UUID, thread: str) -> str:
    builder = StateGraph(State)
    builder.add_node("draft", draft)
    builder.add_node("review", review)
    builder.add_edge(START, "draft")
    builder.add_edge("draft", "review")
    builder.add_edge("review", END)
    async with await Store.open(settings=StoreSettings()) as store:
        saver = SkillstoreSaver(store, team_id=team_id)
        graph = builder.compile(checkpointer=saver, interrupt_before=["review"])
        config: Any = {"configurable": {"thread_id": thread}}
        if step == "start":
            state = await graph.ainvoke({"steps": []}, config)
            return f"paused before {graph.get_state(config).next[0]}: {state['steps']}"
        state = await graph.ainvoke(None, config)
        return f"done: {state['steps']}"


if __name__ == "__main__":
    print(asyncio.run(main(sys.argv[1], uuid.UUID(sys.argv[2]), sys.argv[3])))
