"""The IAM policy language: what allows, what denies, what is refused as malformed."""

from __future__ import annotations

import pytest

from firebox.iam.policy import Decision, PolicyError, Principal, Request, decide, parse

FN = "arn:aws:lambda:us-east-1:123456789012:function:"


def doc(*statements: dict[str, object]) -> dict[str, object]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_actions_and_resources_match_with_wildcards() -> None:
    policy = parse(doc({"Effect": "Allow", "Action": "lambda:Invoke*", "Resource": FN + "app-*"}))
    assert policy.decide(Request("lambda:InvokeFunction", FN + "app-1")) is Decision.ALLOW
    # Actions are case-insensitive, resources are not.
    assert policy.decide(Request("LAMBDA:invokefunction", FN + "app-1")) is Decision.ALLOW
    assert policy.decide(Request("lambda:InvokeFunction", FN + "App-1")) is Decision.NONE
    assert policy.decide(Request("lambda:GetFunction", FN + "app-1")) is Decision.NONE
    one = parse(doc({"Effect": "Allow", "Action": "lambda:Get?unction", "Resource": "*"}))
    assert one.decide(Request("lambda:GetFunction", FN + "x")) is Decision.ALLOW


def test_an_explicit_deny_wins_over_any_allow() -> None:
    allow = parse(doc({"Effect": "Allow", "Action": "lambda:*", "Resource": "*"}))
    deny = parse(doc({"Effect": "Deny", "Action": "lambda:DeleteFunction", "Resource": "*"}))
    assert decide([allow, deny], Request("lambda:DeleteFunction", FN + "f")) is Decision.DENY
    assert decide([allow, deny], Request("lambda:GetFunction", FN + "f")) is Decision.ALLOW
    assert decide([], Request("lambda:GetFunction", FN + "f")) is Decision.NONE


def test_not_action_and_not_resource() -> None:
    policy = parse(doc({"Effect": "Allow", "NotAction": "iam:*", "NotResource": FN + "secret"}))
    assert policy.decide(Request("lambda:InvokeFunction", FN + "open")) is Decision.ALLOW
    assert policy.decide(Request("iam:CreateRole", "*")) is Decision.NONE
    assert policy.decide(Request("lambda:InvokeFunction", FN + "secret")) is Decision.NONE


def test_conditions() -> None:
    policy = parse(doc({
        "Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*",
        "Condition": {"StringEquals": {"AWS:SourceAccount": "123456789012"},
                      "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::uploads-*"}},
    }))  # fmt: skip
    good = {"aws:sourceaccount": "123456789012", "aws:sourcearn": "arn:aws:s3:::uploads-1"}
    assert policy.decide(Request("lambda:InvokeFunction", "x", None, good)) is Decision.ALLOW
    wrong = {**good, "aws:sourcearn": "arn:aws:s3:::other"}
    assert policy.decide(Request("lambda:InvokeFunction", "x", None, wrong)) is Decision.NONE
    missing = {"aws:sourceaccount": "123456789012"}
    assert policy.decide(Request("lambda:InvokeFunction", "x", None, missing)) is Decision.NONE
    numeric = parse(doc({"Effect": "Deny", "Action": "*", "Resource": "*",
                         "Condition": {"NumericGreaterThan": {"x:size": "10"},
                                       "BoolIfExists": {"x:flag": True}}}))  # fmt: skip
    assert numeric.decide(Request("a:b", "r", None, {"x:size": "11"})) is Decision.DENY
    assert numeric.decide(Request("a:b", "r", None, {"x:size": "9"})) is Decision.NONE
    assert numeric.decide(Request("a:b", "r", None, {"x:size": "11", "x:flag": "false"})) is (
        Decision.NONE
    )
    negated = parse(doc({"Effect": "Allow", "Action": "*", "Resource": "*",
                         "Condition": {"StringNotEquals": {"x:k": ["a", "b"]},
                                       "Null": {"x:gone": "true"}}}))  # fmt: skip
    assert negated.decide(Request("a:b", "r", None, {"x:k": "c"})) is Decision.ALLOW
    assert negated.decide(Request("a:b", "r", None, {"x:k": "a"})) is Decision.NONE
    assert negated.decide(Request("a:b", "r", None, {"x:gone": "1"})) is Decision.NONE


def test_set_date_address_and_binary_conditions() -> None:
    def holds(condition: dict[str, object], context: dict[str, str | list[str]]) -> bool:
        policy = parse(doc({"Effect": "Allow", "Action": "*", "Resource": "*",
                            "Condition": condition}))  # fmt: skip
        return policy.decide(Request("a:b", "r", None, context)) is Decision.ALLOW

    tags = {"ForAllValues:StringEquals": {"aws:tagkeys": ["team", "env"]}}
    assert holds(tags, {"aws:tagkeys": ["team"]}) and holds(tags, {})
    assert not holds(tags, {"aws:tagkeys": ["team", "owner"]})
    anyone = {"ForAnyValue:StringLike": {"aws:tagkeys": "t*"}}
    assert holds(anyone, {"aws:tagkeys": ["x", "team"]}) and not holds(anyone, {})
    before = {"DateLessThan": {"aws:currenttime": "2030-01-01T00:00:00Z"}}
    assert holds(before, {"aws:currenttime": "2026-12-07T08:00:00Z"})
    assert not holds(before, {"aws:currenttime": "2031-01-01T00:00:00Z"})
    assert holds({"DateGreaterThan": {"aws:epochtime": "1000"}}, {"aws:epochtime": "2000"})
    network = {"IpAddress": {"aws:sourceip": ["10.0.0.0/8", "192.0.2.7"]}}
    assert holds(network, {"aws:sourceip": "10.1.2.3"}) and holds(
        network, {"aws:sourceip": "192.0.2.7"}
    )
    assert not holds(network, {"aws:sourceip": "172.16.0.1"})
    assert holds({"NotIpAddress": {"aws:sourceip": "10.0.0.0/8"}}, {"aws:sourceip": "1.2.3.4"})
    assert holds({"BinaryEquals": {"k": "QUJD"}}, {"k": "QUJD"})


def test_not_principal() -> None:
    policy = parse(doc({"Effect": "Deny", "NotPrincipal": {"Service": "s3.amazonaws.com"},
                        "Action": "lambda:InvokeFunction"}), resource_policy=True)  # fmt: skip
    s3 = Principal("Service", "s3.amazonaws.com")
    sns = Principal("Service", "sns.amazonaws.com")
    assert policy.decide(Request("lambda:InvokeFunction", FN + "f", s3)) is Decision.NONE
    assert policy.decide(Request("lambda:InvokeFunction", FN + "f", sns)) is Decision.DENY


def test_principals_of_resource_policies() -> None:
    def allows(principal: object, who: Principal) -> bool:
        policy = parse(doc({"Effect": "Allow", "Principal": principal,
                            "Action": "lambda:InvokeFunction"}), resource_policy=True)  # fmt: skip
        return policy.decide(Request("lambda:InvokeFunction", FN + "f", who)) is Decision.ALLOW

    session = Principal("AWS", "arn:aws:sts::123456789012:assumed-role/app/fn")
    s3 = Principal("Service", "s3.amazonaws.com")
    assert allows("*", session) and allows("*", s3)
    assert allows({"Service": "s3.amazonaws.com"}, s3)
    assert not allows({"Service": "sns.amazonaws.com"}, s3)
    # An account principal delegates to the account's own policies: it allows no identity
    # of the account on its own (the caller's identity policy must), but its Deny denies.
    assert not allows({"AWS": "123456789012"}, session)
    assert not allows({"AWS": "arn:aws:iam::123456789012:root"}, session)
    deny = parse(doc({"Effect": "Deny", "Principal": {"AWS": "123456789012"},
                      "Action": "lambda:*"}), resource_policy=True)  # fmt: skip
    assert deny.decide(Request("lambda:InvokeFunction", FN + "f", session)) is Decision.DENY
    assert not allows({"AWS": "999999999999"}, session)
    assert allows({"AWS": "arn:aws:iam::123456789012:role/app"}, session)  # its sessions
    assert allows({"AWS": "arn:aws:iam::123456789012:role/APP"}, session)  # role names: any case
    assert not allows({"AWS": "arn:aws:iam::123456789012:role/other"}, session)
    assert not allows({"AWS": "arn:aws:iam::123456789012:role/app"}, s3)


@pytest.mark.parametrize("bad", [
    "{not json",
    {"Version": "2012-10-17"},
    {"Version": "2020-01-01", "Statement": []},
    doc({"Effect": "Maybe", "Action": "*", "Resource": "*"}),
    doc({"Effect": "Allow", "Resource": "*"}),
    doc({"Effect": "Allow", "Action": "Invoke", "Resource": "*"}),
    doc({"Effect": "Allow", "Action": "*"}),
    doc({"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"Guess": {"a": "b"}}}),
    doc({"Effect": "Allow", "Action": "*", "Resource": "*", "Extra": 1}),
])  # fmt: skip
def test_malformed_documents_are_refused(bad: object) -> None:
    with pytest.raises(PolicyError):
        parse(bad)  # type: ignore[arg-type]


def test_resource_policies_need_a_principal() -> None:
    with pytest.raises(PolicyError, match="principal"):
        parse(doc({"Effect": "Allow", "Action": "*"}), resource_policy=True)
