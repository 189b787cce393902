"""One module per `llm-course` subcommand; see course_lib.cli for the contract."""
