"""The relay (issue 10): direct messages between people on different platforms.

`routing` holds the rules (pure); `capture` and `to_bot` take messages in, `pipeline` queues
them, `kinds` posts them through the outbox, `tell` says what happened to the people
concerned, `waiting` releases or expires messages held for a person to link again.
"""
