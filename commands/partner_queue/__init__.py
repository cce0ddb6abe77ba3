"""The partner user queue: partner messages to user-sync commands, and its AMQP consumer."""
