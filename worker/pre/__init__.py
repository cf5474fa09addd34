"""What the worker does to a window before the model hears it: where it starts and ends, how loud it is, whether it
holds any sound, where its speech is."""
