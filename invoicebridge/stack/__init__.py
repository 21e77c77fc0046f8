"""A whole invoicebridge on one machine as real processes (`local.LocalStack`): its settings
file (`config`), driving it (`driving`), RabbitMQ and Redis Sentinel (`rabbitmq`, `sentinel`),
and spread over network namespaces (`cluster`)."""
