"""The walkthrough users hand over: a narrated video generated from a real run
(:mod:`churnlake.walkthrough.video`) and the release package with its evidence
(:mod:`churnlake.walkthrough.package`). docs/walkthrough.md explains both."""
