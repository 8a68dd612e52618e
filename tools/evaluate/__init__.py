"""`vpipe eval`: SR and detector scores of an exported model."""
