%% Runs a rabbitmq.conf through the node's own cuttlefish schema (rabbit core only: no
%% plugin is enabled), the translation the node does at boot: unknown keys and values the
%% schema refuses (including TLS files it cannot read) end in exit 1.
[Schemas, File] = init:get_plain_arguments(),
Schema = cuttlefish_schema:files(filelib:wildcard(Schemas)),
Result = case cuttlefish_conf:files([File]) of
    {errorlist, _} = E -> {error, parse, E};
    Conf -> cuttlefish_generator:map(Schema, Conf)
end,
case Result of
    {error, Phase, {errorlist, Errors}} ->
        [io:format(standard_error, "rabbitmq.conf (~s): ~s~n", [Phase, cuttlefish_error:xlate(X)]) || X <- Errors],
        halt(1);
    _ -> halt(0)
end.
