"""Events leave the outbox: RabbitMQ relay, webhooks, and retention (`taskmanager events`)."""
