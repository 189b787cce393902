"""local-llm-course: the helper library behind the notebooks.

Each module backs one part of the course and says which notebook derives it.
"""

from course_lib.errors import CourseError

__all__ = ["CourseError"]
__version__ = "0.1.0"
