"""The gateway's endpoints by topic; ``create_app`` lists them all in its one route table."""
