"""LangChain on skillstore: a team's documents as a VectorStore and a retriever.

Run it with ``python -m examples.langchain_retriever`` (from a checkout:
``pip install '.[langchain]'``). Swap ``DeterministicFakeEmbedding`` for your
embeddings (``OpenAIEmbeddings``, ``HuggingFaceEmbeddings``, ...).
"""

import asyncio

from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding

from skillstore import Store, TeamCreate, UserCreate
from skillstore.integrations.langchain import SkillstoreVectorStore


async def main(url: str = "sqlite+aiosqlite:///./langchain-demo.db") -> list[Document]:
    async with await Store.open(url) as store:
        await store.upgrade()
        async with store.session() as s:
            user = await s.users.create(
                UserCreate(email="ops@example.com", display_name="Ops", password="s3cret-pass")
            )
            team = await s.teams.create(TeamCreate(name="Ops", slug="ops"), owner_id=user.id)

        docs = SkillstoreVectorStore(
            store, team_id=team.id, embedding=DeterministicFakeEmbedding(size=256)
        )
        await docs.aadd_documents(
            [
                Document(page_content="Deploys happen on Tuesdays", metadata={"kind": "runbook"}),
                Document(page_content="Dana prefers email", metadata={"kind": "crm"}, id="dana"),
            ]
        )
        retriever = docs.as_retriever(search_kwargs={"k": 1, "filter": {"kind": "crm"}})
        found = await retriever.ainvoke("how do I reach Dana?")
        docs.close()
        return found


if __name__ == "__main__":
    print(asyncio.run(main()))
