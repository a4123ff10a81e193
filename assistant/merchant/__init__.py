"""The merchant's room: a merchant's messages outside a ticket, answered by the troubleshooting flow."""
