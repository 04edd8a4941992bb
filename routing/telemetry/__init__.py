"""What the gateway tells its operators: Prometheus metrics (`metrics`) and, when
OTEL_EXPORTER_OTLP_ENDPOINT is set, OpenTelemetry traces (`tracing`, imported only then)."""
