"""A job from upload to transcript: its record and store, who owns it, what customers see of it, its progress and
its completion webhook. Above audio/ and transcripts/ (a finished job names its transcripts), below uploads/."""
