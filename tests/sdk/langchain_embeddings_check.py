"""LangChain's OpenAIEmbeddings (langchain-openai), pointed at sotto: embed_documents and embed_query,
the query's paraphrase ranked first among unrelated sentences. (LangChain's InMemoryVectorStore
would need numpy, which nothing else here installs.)

`check_embedding_ctx_length=False`: with the default, LangChain tokenizes every text with tiktoken
first, which downloads OpenAI's encodings from the internet (a server that keeps everything local is
run where that fails). Without it, texts are sent as they are; sotto refuses one longer than its
embeddings context by name rather than cutting it.

Run by tests/agent_clients.rs (see clientcheck.py for the environment and the exit protocol).
"""

import math

from langchain_openai import OpenAIEmbeddings

from clientcheck import Checks, server

srv = server()
embeddings = OpenAIEmbeddings(
    base_url=srv.base_url,
    api_key=srv.api_key,
    model=srv.model,
    check_embedding_ctx_length=False,
    max_retries=0,
)
checks = Checks()
check = checks.check

documents = [
    "How do I reset my password?",
    "The recipe needs two cups of flour.",
    "Stock markets fell sharply on Monday.",
]
vectors = embeddings.embed_documents(documents)
check(len(vectors) == 3, "embed_documents: one vector per text")
check(len({len(v) for v in vectors}) == 1 and len(vectors[0]) > 0, "embed_documents: vectors of one length")
for vector in vectors:
    check(abs(math.sqrt(sum(x * x for x in vector)) - 1) < 1e-3, "embed_documents: unit length")

query = embeddings.embed_query("How can I change my password?")
check(len(query) == len(vectors[0]), "embed_query: the same length")
scores = [sum(a * b for a, b in zip(query, vector)) for vector in vectors]
check(scores[0] == max(scores), f"embed_query: the paraphrase scores highest ({scores})")

checks.done()
