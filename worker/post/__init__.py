"""What the worker does to the model's output: cut repetition loops, keep a doubled word once, cut chunk-long
segments into sentences, find speech that got no words."""
