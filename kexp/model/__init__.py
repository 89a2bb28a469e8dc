"""The model stage: names resolved through Keras's own resolvers, one builder for
every model, and the model's picture."""
