"""The runtime room: the inbox, the bookkeeping around updates, the outbox, the senders and the file reader."""
