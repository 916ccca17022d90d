"""The UiServices implementation the screens call, one module per capability."""
