"""A partner's program, run in a venv that holds only the SDK's distribution (clients/python).

It closes a case of its own agency and shows that the two types only the platform may seal are refused.
Settings come from the environment, as `kim agency add` printed them; it prints one JSON line.
"""

import json
import os

from schemas import EncodeError
from streams.kafka.connection import KafkaConnection
from streams.sdk import EventDraft, SyncPublisher

kafka = KafkaConnection(
    os.environ["KIM_KAFKA_BOOTSTRAP"],
    username=os.environ["KIM_AGENCY_USERNAME"],
    password=os.environ["KIM_AGENCY_PASSWORD"],
    ca_file=os.environ["KIM_KAFKA_CA_FILE"],  # the CA `kim agency add` named; brokers are verified against it
)
agency, case_id = os.environ["KIM_AGENCY"], os.environ["KIM_CASE_ID"]
signing_key = os.environ["KIM_AGENCY_SIGNING_KEY"]
with SyncPublisher(kafka, agency, signing_key=signing_key, topic_prefix=os.environ["KIM_TOPIC_PREFIX"]) as publisher:
    closed = publisher.publish(EventDraft("CaseClosed", {"case_id": case_id, "reason": "GOALS_ACHIEVED"}))
    opening = {"case_id": "DO-P9", "client_ref": "P-7f3a9c", "district": "EVING", "access_route": "SELF"}
    try:
        publisher.publish(EventDraft("CaseOpened", {**opening, "target_group": "NEWCOMER", "rechtskreise": []}))
        refused = None
    except EncodeError as why:
        refused = str(why)
print(json.dumps({"topic": closed.topic, "partition": closed.partition, "offset": closed.offset, "refused": refused}))
