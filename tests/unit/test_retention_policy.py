"""The retention policy read from the config: checked, and turned into Delta properties."""

from __future__ import annotations

import dataclasses

import pytest

from churnlake.versioning.retention import DEFAULTS_PREFIX, policy, session_defaults


def with_versioning(cfg, **section):
    return dataclasses.replace(cfg, raw={**cfg.raw, "versioning": section})


def test_policy_from_config(cfg):
    pol = policy(with_versioning(cfg, deleted_file_retention_days=3, log_retention_days=10))
    assert pol.vacuum_hours == 72
    assert pol.properties == {"delta.deletedFileRetentionDuration": "interval 3 days",
                              "delta.logRetentionDuration": "interval 10 days"}
    assert session_defaults(with_versioning(cfg, deleted_file_retention_days=3, log_retention_days=10)) == {
        DEFAULTS_PREFIX + "deletedFileRetentionDuration": "interval 3 days",
        DEFAULTS_PREFIX + "logRetentionDuration": "interval 10 days"}


@pytest.mark.parametrize("section, message", [
    ({"deleted_file_retention_days": 10, "log_retention_days": 5}, "must be >="),
    ({"deleted_file_retention_days": 0}, "at least 1"),
    ({"deleted_file_retention_days": "a week"}, "whole numbers"),
])
def test_bad_policies_are_refused(cfg, section, message):
    with pytest.raises(ValueError, match=message):
        policy(with_versioning(cfg, **section))
