"""The cascade relay: projects published events onto the broker, and its AMQP adapter."""
