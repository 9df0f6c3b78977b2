"""Report building blocks shared by stages: plots rendered as Markdown images, summaries."""
