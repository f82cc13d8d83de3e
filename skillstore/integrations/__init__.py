"""Optional adapters to agent frameworks: `langchain` (a VectorStore) and `langgraph`."""
