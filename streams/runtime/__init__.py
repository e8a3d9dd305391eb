"""The projection runtime: judge each record, fold it, write rows and checkpoints in one transaction, dead-letter.

One record loop (``loop``) does the batch step; two drivers feed it: ``live`` (a faust worker: group
membership, acknowledgements) and ``bulk`` (aiokafka ``getmany``: catch-up and rebuilds).
"""
