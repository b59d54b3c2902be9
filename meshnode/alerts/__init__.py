"""Authority alerts: the CAP 1.2 model, its compact msgpack body, CAP XML import/export, areas."""
