//! wb-capture: placeholder, filled in by the capture issue.
