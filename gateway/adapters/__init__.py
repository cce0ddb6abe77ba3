"""Driver adapters of the gateway: the AMQP broker for the cascade."""
