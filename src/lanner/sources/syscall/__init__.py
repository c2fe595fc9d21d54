"""The ``syscall`` event source: .scap capture files, the thread/fd state engine, fields."""
