"""The support room: tickets relayed between a merchant's chat and a topic of the support group."""
