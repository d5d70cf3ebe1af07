"""What the watts buy: model-server counters scraped per deployment, and each deployment's energy and carbon
per request and per token, from the GPU up to the utility meter (Green Software Foundation SCI)."""
