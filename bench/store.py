"""How fast the message store takes bus messages: batched recorder vs one INSERT per message.

    make bench-store      (or: tools/dev.sh bench store [--messages 20000])

Real PostgreSQL (HUBS_TEST_DSN, a fresh database), real fedmsg.meta (usernames
and packages of every message, as the consumer computes them), the example
messages of fedmsg_meta_fedora_infrastructure with fresh msg_ids.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid

import fedmsg.config
from common import machine
from corpus import fedora_messages
from twisted.internet import defer, task

from hubs.bus.meta import MessageMeta
from hubs.db.migrate import migrate
from hubs.db.recorder import MessageRecorder, stored_message
from hubs.db.store import PostgresStore
from tests.conftest import drop_database, fresh_database


async def run(reactor, n: int) -> None:
    admin = os.environ["HUBS_TEST_DSN"]
    dsn = fresh_database(admin, "hubs_bench_store")
    try:
        migrate(dsn)
        store = PostgresStore(dsn, size=2, reactor=reactor)
        await store.start()
        meta = MessageMeta(fedmsg.config.load_config([], None))
        corpus = fedora_messages()
        envelopes = [dict(corpus[i % len(corpus)], msg_id=str(uuid.uuid4()), timestamp=time.time())
                     for i in range(n)]
        print(f"# Message store benchmark — {time.strftime('%Y-%m-%d %H:%M')} — {machine()}\n")

        start = time.perf_counter()
        for env in envelopes[: n // 10]:
            meta.usernames(env)
            meta.packages(env)
        meta_rate = (n // 10) / (time.perf_counter() - start)

        async def through_recorder(batch, with_meta):
            recorder = MessageRecorder(store, reactor)
            began = time.perf_counter()
            for i, (env, names, packages) in enumerate(batch):
                if with_meta:
                    names, packages = meta.usernames(env), meta.packages(env)
                recorder.record(env, names, packages)
                if i % 500 == 499:
                    await task.deferLater(reactor, 0, lambda: None)  # let batches go out, as the reactor would
            await recorder.flush()
            return len(batch) / (time.perf_counter() - began), recorder.stored

        def fresh(envs):
            return [(dict(e, msg_id=str(uuid.uuid4())), meta.usernames(e), meta.packages(e)) for e in envs]

        batched, stored = await through_recorder(fresh(envelopes), with_meta=False)
        end_to_end, _ = await through_recorder(fresh(envelopes), with_meta=True)
        singles = [stored_message(e, names, packages, time.time())
                   for e, names, packages in fresh(envelopes[: n // 10])]
        start = time.perf_counter()
        for m in singles:
            await store.add_messages([m])
        single = len(singles) / (time.perf_counter() - start)
        store.close()
        print(f"fedmsg.meta alone (usernames + packages):      {meta_rate:8.0f} msgs/s")
        print(f"recorder, batched inserts (meta done ahead):   {batched:8.0f} msgs/s  ({stored} stored)")
        print(f"one INSERT per message (meta done ahead):      {single:8.0f} msgs/s")
        print(f"recorder end to end (meta + batched inserts):  {end_to_end:8.0f} msgs/s")
        print(f"\nbatched / single inserts: {batched / single:.1f}x")
    finally:
        drop_database(admin, dsn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20000)
    args = parser.parse_args()
    task.react(lambda reactor: defer.ensureDeferred(run(reactor, args.messages)))


if __name__ == "__main__":
    main()
