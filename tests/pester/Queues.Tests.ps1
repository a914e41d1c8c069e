# The queue cmdlets as users use them: input forms, validation with exact error ids, and that stored data is intact
# after every bad input.
BeforeAll {
    . $PSScriptRoot/Common.ps1
    Import-Module $ModulePath -Force

    $script:NewCmd = 'WandbLaunch.Queues.NewWandbLaunchQueueCommand'
    $script:GetCmd = 'WandbLaunch.Queues.GetWandbLaunchQueueCommand'
    $script:SetCmd = 'WandbLaunch.Queues.SetWandbLaunchQueueCommand'
    $script:RemoveCmd = 'WandbLaunch.Queues.RemoveWandbLaunchQueueCommand'

    # The session's default entity must not come from whoever runs the suite.
    $script:SavedEntity = $env:WANDB_ENTITY
    $env:WANDB_ENTITY = $null

    function New-SeededStore {
        <# A fresh store holding one queue with a template, so that "nothing changed" checks have something to keep. #>
        New-TestStore | Out-Null
        New-WandbLaunchQueue -Name seed -Resource kubernetes -Prioritization -Access User `
            -Configuration '{"spec": {"template": {"spec": {"containers": [{"resources": {"limits": {"cpu": "{{cpus}}"}}}]}}}}' `
            -TemplateVariable @{ cpus = @{ type = 'integer'; minimum = 1; maximum = 8; default = 2 } } | Out-Null
    }
}

AfterAll {
    $env:WANDB_ENTITY = $script:SavedEntity
    Remove-TestDirectories
}

Describe 'New-WandbLaunchQueue: configuration forms' {
    BeforeEach { New-TestStore | Out-Null }

    It 'accepts JSON text and stores it as W&B does, under resource_args.<resource>' {
        $q = New-WandbLaunchQueue -Name json -Resource kubernetes -Configuration '{"metadata": {"namespace": "ml"}, "spec": {"backoffLimit": 0, "suspend": false}}'
        $q.Name | Should -BeExactly 'json'
        $q.Resource | Should -BeExactly 'kubernetes'
        $q.Entity | Should -BeExactly ([Environment]::UserName)
        $q.Project | Should -BeExactly 'model-registry'
        $q.ConfigurationJson | Should -BeExactly '{"resource_args":{"kubernetes":{"metadata":{"namespace":"ml"},"spec":{"backoffLimit":0,"suspend":false}}}}'
        (Get-WandbLaunchQueue json).ConfigurationJson | Should -BeExactly $q.ConfigurationJson
    }

    It 'accepts YAML text with YAML 1.2 types (numbers, booleans, null, quoted strings stay strings)' {
        $yaml = @'
# a comment
metadata:
  namespace: ml
spec:
  backoffLimit: 0
  suspend: false
  ratio: 0.5
  version: "1.10"
  note: ~
  args: [--epochs, "3"]
'@
        $q = New-WandbLaunchQueue -Name yaml -Resource kubernetes -Configuration $yaml
        $q.ConfigurationJson | Should -BeExactly '{"resource_args":{"kubernetes":{"metadata":{"namespace":"ml"},"spec":{"backoffLimit":0,"suspend":false,"ratio":0.5,"version":"1.10","note":null,"args":["--epochs","3"]}}}}'
    }

    It 'accepts one-line flow-style YAML that starts with a brace' {
        $q = New-WandbLaunchQueue -Name flow -Resource local-container -Configuration '{cpus: 2, memory: 4g, env: [MODE=fast]}'
        $q.ConfigurationJson | Should -BeExactly '{"resource_args":{"local-container":{"cpus":2,"memory":"4g","env":["MODE=fast"]}}}'
    }

    It 'accepts a hashtable, with nested hashtables and arrays' {
        $config = [ordered]@{ image = 'busybox'; cpus = 2; env = @('A=1', 'B=2'); limits = [ordered]@{ memory = '1g'; gpus = $true } }
        $q = New-WandbLaunchQueue -Name hash -Resource kubernetes -Configuration $config
        $q.ConfigurationJson | Should -BeExactly '{"resource_args":{"kubernetes":{"image":"busybox","cpus":2,"env":["A=1","B=2"],"limits":{"memory":"1g","gpus":true}}}}'
    }

    It 'accepts an unordered hashtable' {
        $q = New-WandbLaunchQueue -Name plain -Resource local-container -Configuration @{ cpus = 2; memory = '1g' }
        $stored = $q.ConfigurationJson | ConvertFrom-Json -AsHashtable
        $stored.resource_args['local-container'].cpus | Should -Be 2
        $stored.resource_args['local-container'].memory | Should -BeExactly '1g'
        $stored.resource_args['local-container'].Keys.Count | Should -Be 2
    }

    It 'accepts a PSCustomObject, with nested objects and arrays of objects' {
        $config = [pscustomobject]@{
            spec = [pscustomobject]@{ containers = @([pscustomobject]@{ name = 'main'; args = @('a', 'b') }) }
            labels = [pscustomobject]@{ team = 'ml' }
        }
        $q = New-WandbLaunchQueue -Name object -Resource kubernetes -Configuration $config
        $q.ConfigurationJson | Should -BeExactly '{"resource_args":{"kubernetes":{"spec":{"containers":[{"name":"main","args":["a","b"]}]},"labels":{"team":"ml"}}}}'
    }

    It 'accepts the output of ConvertFrom-Json' {
        $config = '{"RoleArn": "arn:aws:iam::123456789012:role/sm", "ResourceConfig": {"InstanceCount": 1}}' | ConvertFrom-Json
        $q = New-WandbLaunchQueue -Name fromjson -Resource sagemaker -Configuration $config
        $q.ConfigurationJson | Should -BeExactly '{"resource_args":{"sagemaker":{"RoleArn":"arn:aws:iam::123456789012:role/sm","ResourceConfig":{"InstanceCount":1}}}}'
    }

    It 'reads -ConfigurationPath <file.json>' {
        $dir = New-TestDirectory
        Set-Content "$dir/queue.json" '{"spec": {"backoffLimit": 1}}'
        $q = New-WandbLaunchQueue -Name jsonfile -Resource kubernetes -ConfigurationPath "$dir/queue.json"
        $q.ConfigurationJson | Should -BeExactly '{"resource_args":{"kubernetes":{"spec":{"backoffLimit":1}}}}'
    }

    It 'reads -ConfigurationPath <file.yaml>, relative to the current PowerShell location' {
        $dir = New-TestDirectory
        Set-Content "$dir/queue.yaml" "spec:`n  backoffLimit: 1`n  template:`n    metadata:`n      labels: {team: ml}"
        Push-Location $dir
        try {
            $q = New-WandbLaunchQueue -Name yamlfile -Resource kubernetes -ConfigurationPath ./queue.yaml
        }
        finally {
            Pop-Location
        }
        $q.ConfigurationJson | Should -BeExactly '{"resource_args":{"kubernetes":{"spec":{"backoffLimit":1,"template":{"metadata":{"labels":{"team":"ml"}}}}}}}'
    }

    It "accepts W&B's stored form {""resource_args"": {""<resource>"": ...}} and stores it once, not nested" {
        $wandb = '{"resource_args": {"gcp-vertex": {"spec": {"staging_bucket": "gs://b"}, "run": {"timeout": 3600}}}}'
        $q = New-WandbLaunchQueue -Name vertex -Resource gcp-vertex -Configuration $wandb
        $q.ConfigurationJson | Should -BeExactly '{"resource_args":{"gcp-vertex":{"spec":{"staging_bucket":"gs://b"},"run":{"timeout":3600}}}}'
        $q.Configuration['spec']['staging_bucket'] | Should -BeExactly 'gs://b'
    }

    It 'accepts the stored form as a hashtable too' {
        $q = New-WandbLaunchQueue -Name lc -Resource local-container -Configuration @{ resource_args = @{ 'local-container' = @{ cpus = 1 } } }
        $q.ConfigurationJson | Should -BeExactly '{"resource_args":{"local-container":{"cpus":1}}}'
    }

    It 'stores an empty configuration when none is given' {
        $q = New-WandbLaunchQueue -Name empty -Resource local-process
        $q.ConfigurationJson | Should -BeExactly '{"resource_args":{"local-process":{}}}'
    }

    It 'matches -Resource case-insensitively and stores the W&B name' {
        (New-WandbLaunchQueue -Name k8s -Resource Kubernetes).Resource | Should -BeExactly 'kubernetes'
    }
}

Describe 'New-WandbLaunchQueue: bad configuration' {
    BeforeAll { New-SeededStore }
    BeforeEach { $script:before = Get-QueueSnapshot }
    AfterEach { Get-QueueSnapshot | Should -BeExactly $script:before -Because 'a refused command must not change the store' }

    It 'refuses malformed JSON, naming line and column' {
        $json = "{`n  ""spec"": {`n    ""cpus"": 2,`n    ""mem"" 4`n  }`n}"
        $err = { New-WandbLaunchQueue -Name bad -Resource kubernetes -Configuration $json -ErrorAction Stop } |
            Should -Throw -ErrorId "InvalidQueueConfiguration,$NewCmd" -PassThru
        $err.Exception.Message | Should -BeLike 'Invalid JSON at line 4, column 11:*'
        $err.CategoryInfo.Category | Should -Be 'InvalidData'
    }

    It 'refuses malformed YAML, naming line and column' {
        $yaml = "spec:`n  cpus: 2`n mem: 4"
        $err = { New-WandbLaunchQueue -Name bad -Resource kubernetes -Configuration $yaml -ErrorAction Stop } |
            Should -Throw -ErrorId "InvalidQueueConfiguration,$NewCmd" -PassThru
        $err.Exception.Message | Should -BeLike 'Invalid YAML at line 3, column 2:*'
    }

    It 'refuses YAML with an unclosed flow list, naming the line where it went wrong' {
        $yaml = "spec:`n  cpus: [1, 2`nmem: 3"
        $err = { New-WandbLaunchQueue -Name bad -Resource kubernetes -Configuration $yaml -ErrorAction Stop } |
            Should -Throw -ErrorId "InvalidQueueConfiguration,$NewCmd" -PassThru
        $err.Exception.Message | Should -BeLike 'Invalid YAML at line 3, column 1:*'
    }

    It 'refuses a duplicate YAML key' {
        { New-WandbLaunchQueue -Name bad -Resource kubernetes -Configuration "spec:`n  a: 1`n  a: 2" -ErrorAction Stop } |
            Should -Throw -ErrorId "InvalidQueueConfiguration,$NewCmd"
    }

    It 'explains that an unquoted {{placeholder}} in YAML must be quoted' {
        $err = { New-WandbLaunchQueue -Name bad -Resource kubernetes -Configuration "spec:`n  cpus: {{cpus}}" -TemplateVariable @{ cpus = @{ type = 'integer' } } -ErrorAction Stop } |
            Should -Throw -ErrorId "InvalidQueueConfiguration,$NewCmd" -PassThru
        $err.Exception.Message | Should -BeLike '*line 2, column 10*must be quoted*'
    }

    It 'names the file, line and column of a malformed -ConfigurationPath <ext> file' -TestCases @(
        @{ Ext = 'json'; Text = "{`n  ""spec"": {`n    ""cpus"": 2,`n    ""mem"" 4`n  }`n}"; Where = '4:11' }
        @{ Ext = 'yaml'; Text = "spec:`n  cpus: 2`n mem: 4"; Where = '3:2' }
    ) {
        $file = Join-Path (New-TestDirectory) "queue.$Ext"
        Set-Content $file $Text
        $err = { New-WandbLaunchQueue -Name bad -Resource kubernetes -ConfigurationPath $file -ErrorAction Stop } |
            Should -Throw -ErrorId "InvalidQueueConfiguration,$NewCmd" -PassThru
        $err.Exception.Message | Should -BeLike "Invalid $($Ext.ToUpper()) at ${file}:${Where}:*"
    }

    It 'refuses a -ConfigurationPath that does not exist' {
        $missing = Join-Path (New-TestDirectory) 'missing.yaml'
        { New-WandbLaunchQueue -Name bad -Resource kubernetes -ConfigurationPath $missing -ErrorAction Stop } |
            Should -Throw -ErrorId "ConfigurationFileNotFound,$NewCmd"
    }

    It 'refuses a configuration that is not a mapping: <Case>' -TestCases @(
        @{ Case = 'a JSON list'; Value = '[1, 2]' }
        @{ Case = 'a YAML scalar'; Value = 'just text' }
        @{ Case = 'a number'; Value = 5 }
    ) {
        { New-WandbLaunchQueue -Name bad -Resource kubernetes -Configuration $Value -ErrorAction Stop } |
            Should -Throw -ErrorId "InvalidQueueConfiguration,$NewCmd"
    }

    It 'refuses resource_args for another resource than the queue''s' {
        $err = { New-WandbLaunchQueue -Name bad -Resource kubernetes -Configuration '{"resource_args": {"sagemaker": {"RoleArn": "r"}}}' -ErrorAction Stop } |
            Should -Throw -ErrorId "InvalidQueueConfiguration,$NewCmd" -PassThru
        $err.Exception.Message | Should -BeLike "*'sagemaker'*'kubernetes'*"
    }
}

Describe 'New-WandbLaunchQueue: template variables' {
    BeforeAll { New-SeededStore }

    It 'stores integer, number and string variables with their schema and defaults' {
        $q = New-WandbLaunchQueue -Name templ -Resource kubernetes `
            -Configuration '{"cpus": "{{cpus}}", "gpu_fraction": "{{gpu}}", "size": "{{size}}", "image": "trainer-{{size}}"}' `
            -TemplateVariable ([ordered]@{
                cpus = @{ type = 'integer'; minimum = 1; maximum = 8; default = 2 }
                gpu  = @{ type = 'number'; minimum = 0.5; maximum = 2.5 }
                size = @{ type = 'string'; enum = 'small', 'large'; default = 'small'; description = 'Machine size' }
            })
        $vars = @{}
        $q.TemplateVariables | ForEach-Object { $vars[$_.Name] = $_ }
        $vars.Keys | Sort-Object | Should -Be @('cpus', 'gpu', 'size')

        $vars.cpus.Type | Should -BeExactly 'integer'
        $vars.cpus.Minimum | Should -Be 1
        $vars.cpus.Maximum | Should -Be 8
        $vars.cpus.Default | Should -Be 2
        $vars.cpus.Default | Should -BeOfType [long]

        $vars.gpu.Type | Should -BeExactly 'number'
        $vars.gpu.Minimum | Should -Be 0.5
        $vars.gpu.Maximum | Should -Be 2.5
        $vars.gpu.HasDefault | Should -BeFalse

        $vars.size.Type | Should -BeExactly 'string'
        $vars.size.Enum | Should -Be @('small', 'large')
        $vars.size.Default | Should -BeExactly 'small'
        $vars.size.Description | Should -BeExactly 'Machine size'

        # The placeholders are stored unrendered, and the variables survive a round trip through the store.
        $stored = Get-WandbLaunchQueue templ
        $stored.ConfigurationJson | Should -BeExactly '{"resource_args":{"kubernetes":{"cpus":"{{cpus}}","gpu_fraction":"{{gpu}}","size":"{{size}}","image":"trainer-{{size}}"}}}'
        ($stored.TemplateVariables | ForEach-Object { $_.ToSchema().ToJsonString() }) -join ';' |
            Should -BeExactly (($q.TemplateVariables | ForEach-Object { $_.ToSchema().ToJsonString() }) -join ';')
    }

    Context 'refused variables leave the store unchanged' {
        BeforeEach { $script:before = Get-QueueSnapshot }
        AfterEach { Get-QueueSnapshot | Should -BeExactly $script:before -Because 'a refused command must not change the store' }

        It 'refuses a {{placeholder}} with no variable (TemplateVariableMissing)' {
            $err = { New-WandbLaunchQueue -Name bad -Resource kubernetes -Configuration '{"cpus": "{{cpus}}", "mem": "{{mem}}"}' -TemplateVariable @{ cpus = @{ type = 'integer' } } -ErrorAction Stop } |
                Should -Throw -ErrorId "TemplateVariableMissing,$NewCmd" -PassThru
            $err.TargetObject | Should -BeExactly 'mem'
            $err.Exception.Message | Should -BeLike '*{{mem}}*'
            $err.CategoryInfo.Category | Should -Be 'InvalidArgument'
        }

        It 'refuses a {{placeholder}} when no variables are given at all' {
            { New-WandbLaunchQueue -Name bad -Resource kubernetes -Configuration '{"cpus": "{{cpus}}"}' -ErrorAction Stop } |
                Should -Throw -ErrorId "TemplateVariableMissing,$NewCmd"
        }

        It 'refuses a variable the configuration never uses (TemplateVariableUnused)' {
            $err = { New-WandbLaunchQueue -Name bad -Resource kubernetes -Configuration '{"cpus": "{{cpus}}"}' -TemplateVariable @{ cpus = @{ type = 'integer' }; mem = @{ type = 'integer' } } -ErrorAction Stop } |
                Should -Throw -ErrorId "TemplateVariableUnused,$NewCmd" -PassThru
            $err.TargetObject | Should -BeExactly 'mem'
        }

        It 'refuses a bad schema: <Case>' -TestCases @(
            @{ Case = 'unknown type'; Schema = @{ type = 'bool' } }
            @{ Case = 'string without enum'; Schema = @{ type = 'string' } }
            @{ Case = 'string with minimum'; Schema = @{ type = 'string'; enum = 'a', 'b'; minimum = 1 } }
            @{ Case = 'integer with enum'; Schema = @{ type = 'integer'; enum = 'a', 'b' } }
            @{ Case = 'minimum above maximum'; Schema = @{ type = 'integer'; minimum = 5; maximum = 2 } }
            @{ Case = 'fractional integer bound'; Schema = @{ type = 'integer'; minimum = 1.5 } }
            @{ Case = 'bound given as text'; Schema = @{ type = 'number'; maximum = 'ten' } }
            @{ Case = 'default above maximum'; Schema = @{ type = 'integer'; minimum = 1; maximum = 4; default = 8 } }
            @{ Case = 'default not in enum'; Schema = @{ type = 'string'; enum = 'a', 'b'; default = 'c' } }
            @{ Case = 'enum listing a value twice'; Schema = @{ type = 'string'; enum = 'a', 'a' } }
            @{ Case = 'unknown schema key'; Schema = @{ type = 'integer'; pattern = '^[0-9]+$' } }
            @{ Case = 'schema that is a number'; Schema = 5 }
        ) {
            $err = { New-WandbLaunchQueue -Name bad -Resource kubernetes -Configuration '{"v": "{{v}}"}' -TemplateVariable @{ v = $Schema } -ErrorAction Stop } |
                Should -Throw -ErrorId "InvalidTemplateVariable,$NewCmd" -PassThru
            $err.TargetObject | Should -BeExactly 'v'
        }

        It 'refuses an invalid variable name' {
            { New-WandbLaunchQueue -Name bad -Resource kubernetes -Configuration '{"v": "{{1v}}"}' -TemplateVariable @{ '1v' = @{ type = 'integer' } } -ErrorAction Stop } |
                Should -Throw -ErrorId "InvalidTemplateVariable,$NewCmd"
        }
    }
}

Describe 'New-WandbLaunchQueue: names, duplicates, options' {
    BeforeAll { New-SeededStore }

    Context 'refused names leave the store unchanged' {
        BeforeEach { $script:before = Get-QueueSnapshot }
        AfterEach { Get-QueueSnapshot | Should -BeExactly $script:before -Because 'a refused command must not change the store' }

        It 'refuses the name <Case> (InvalidQueueName)' -TestCases @(
            @{ Case = 'empty'; Name = '' }
            @{ Case = 'of 65 characters'; Name = 'q' * 65 }
            @{ Case = 'with *'; Name = 'gpu*' }
            @{ Case = 'with ?'; Name = 'gpu?' }
            @{ Case = 'with [ ]'; Name = 'gpu[12]' }
            @{ Case = 'with leading space'; Name = ' gpu' }
            @{ Case = 'with trailing space'; Name = 'gpu ' }
            @{ Case = 'with a control character'; Name = "gpu`t1" }
        ) {
            $err = { New-WandbLaunchQueue -Name $Name -Resource local-process -ErrorAction Stop } |
                Should -Throw -ErrorId "InvalidQueueName,$NewCmd" -PassThru
            $err.TargetObject | Should -BeExactly $Name
        }

        It 'refuses a second queue with the same name (QueueExists) and keeps the first as it was' {
            $err = { New-WandbLaunchQueue -Name seed -Resource local-process -Configuration '{"x": 1}' -ErrorAction Stop } |
                Should -Throw -ErrorId "QueueExists,$NewCmd" -PassThru
            $err.CategoryInfo.Category | Should -Be 'ResourceExists'
            $err.TargetObject | Should -BeExactly 'seed'
            (Get-WandbLaunchQueue seed).Resource | Should -BeExactly 'kubernetes'
        }

        It 'refuses a -Resource outside the set, before anything runs' {
            $err = { New-WandbLaunchQueue -Name other -Resource docker -ErrorAction Stop } |
                Should -Throw -ErrorId "ParameterArgumentValidationError,$NewCmd" -PassThru
            $err.Exception.Message | Should -BeLike '*local-container*local-process*kubernetes*sagemaker*gcp-vertex*'
        }

        It 'creates nothing with -WhatIf' {
            $out = New-WandbLaunchQueue -Name whatif -Resource local-process -WhatIf
            $out | Should -BeNullOrEmpty
            Get-WandbLaunchQueue whatif -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        }

        It 'reports bad input under -WhatIf too' {
            { New-WandbLaunchQueue -Name 'bad*' -Resource local-process -WhatIf -ErrorAction Stop } |
                Should -Throw -ErrorId "InvalidQueueName,$NewCmd"
        }
    }

    It 'accepts a name of 64 characters' {
        $name = 'q' * 64
        (New-WandbLaunchQueue -Name $name -Resource local-process).Name | Should -BeExactly $name
    }

    It 'is not prioritized and is project-wide unless told otherwise' {
        $q = New-WandbLaunchQueue -Name defaults -Resource local-process
        $q.Prioritization | Should -BeFalse
        $q.PrioritizationMode | Should -BeExactly 'DISABLED'
        "$($q.Access)" | Should -BeExactly 'Project'
    }

    It 'sets -Prioritization (W&B mode V0) and -Access User' {
        $q = New-WandbLaunchQueue -Name options -Resource local-process -Prioritization -Access User
        $q.Prioritization | Should -BeTrue
        $q.PrioritizationMode | Should -BeExactly 'V0'
        "$($q.Access)" | Should -BeExactly 'User'
        $stored = Get-WandbLaunchQueue options
        $stored.PrioritizationMode | Should -BeExactly 'V0'
        "$($stored.Access)" | Should -BeExactly 'User'
    }

    It 'creates queues from piped objects, binding by property name' {
        $made = @(
            [pscustomobject]@{ Name = 'piped-a'; Resource = 'local-process' }
            [pscustomobject]@{ Name = 'piped-b'; Resource = 'local-container'; Configuration = '{"cpus": 1}' }
        ) | New-WandbLaunchQueue
        $made.Name | Should -Be @('piped-a', 'piped-b')
        (Get-WandbLaunchQueue piped-b).ConfigurationJson | Should -BeExactly '{"resource_args":{"local-container":{"cpus":1}}}'
    }
}

Describe 'Get-WandbLaunchQueue' {
    BeforeAll {
        New-TestStore | Out-Null
        foreach ($name in 'gpu-a', 'gpu-b', 'cpu') { New-WandbLaunchQueue -Name $name -Resource local-process | Out-Null }
        New-WandbLaunchQueue -Name shared -Resource kubernetes | Out-Null
        New-WandbLaunchQueue -Name shared -Resource sagemaker -Project p1 | Out-Null
        New-WandbLaunchQueue -Name shared -Resource gcp-vertex -Project p2 | Out-Null
        New-WandbLaunchQueue -Name only-team -Resource local-process -Entity team-a | Out-Null
    }

    It 'lists every queue of the default entity and project, sorted by name' {
        (Get-WandbLaunchQueue).Name | Should -Be @('cpu', 'gpu-a', 'gpu-b', 'shared')
    }

    It 'matches wildcards, case-insensitively' {
        (Get-WandbLaunchQueue 'gpu*').Name | Should -Be @('gpu-a', 'gpu-b')
        (Get-WandbLaunchQueue 'GPU-?').Name | Should -Be @('gpu-a', 'gpu-b')
        (Get-WandbLaunchQueue '[cg]pu*').Name | Should -Be @('cpu', 'gpu-a', 'gpu-b')
    }

    It 'returns nothing and no error for a wildcard that matches nothing' {
        Get-WandbLaunchQueue 'tpu*' -ErrorVariable errs | Should -BeNullOrEmpty
        $errs | Should -BeNullOrEmpty
    }

    It 'takes several names, each once' {
        (Get-WandbLaunchQueue cpu, gpu-a, 'gpu*').Name | Should -Be @('cpu', 'gpu-a', 'gpu-b')
    }

    It 'takes names from the pipeline' {
        ('cpu', 'gpu-b' | Get-WandbLaunchQueue).Name | Should -Be @('cpu', 'gpu-b')
    }

    It 'writes a non-terminating QueueNotFound for a missing literal name and still returns the others' {
        $found = Get-WandbLaunchQueue nope, cpu, 'gpu*' -ErrorVariable errs -ErrorAction SilentlyContinue
        $found.Name | Should -Be @('cpu', 'gpu-a', 'gpu-b')
        $errs.Count | Should -Be 1
        $errs[0].FullyQualifiedErrorId | Should -BeExactly "QueueNotFound,$GetCmd"
        $errs[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $errs[0].TargetObject | Should -BeExactly 'nope'
    }

    It 'stops on QueueNotFound with -ErrorAction Stop' {
        { Get-WandbLaunchQueue nope -ErrorAction Stop } | Should -Throw -ErrorId "QueueNotFound,$GetCmd"
    }

    It 'scopes by -Project: the same name in two projects is two queues' {
        (Get-WandbLaunchQueue shared).Resource | Should -BeExactly 'kubernetes'
        (Get-WandbLaunchQueue shared -Project p1).Resource | Should -BeExactly 'sagemaker'
        (Get-WandbLaunchQueue shared -Project p2).Resource | Should -BeExactly 'gcp-vertex'
        (Get-WandbLaunchQueue -Project p1).Name | Should -Be @('shared')
    }

    It 'scopes by -Entity' {
        (Get-WandbLaunchQueue -Entity team-a).Name | Should -Be @('only-team')
        (Get-WandbLaunchQueue -Entity team-a).Entity | Should -BeExactly 'team-a'
        { Get-WandbLaunchQueue only-team -ErrorAction Stop } | Should -Throw -ErrorId "QueueNotFound,$GetCmd"
    }

    It 'shows name, resource, prioritization and pending count in its default table view' {
        Set-WandbLaunchQueue gpu-a -Prioritization
        $lines = (Get-WandbLaunchQueue | Format-Table | Out-String -Width 250) -split '\r?\n' | Where-Object { $_.Trim() }
        $lines[0] | Should -Match '^Name\s+Resource\s+Prioritization\s+Pending\b'
        # On or off: W&B's mode names (V0, DISABLED) stay in PrioritizationMode and the list view.
        ($lines | Where-Object { $_ -match '^gpu-a\s+local-process\s+on\s+0\b' }) | Should -Not -BeNullOrEmpty
        ($lines | Where-Object { $_ -match '^shared\s+kubernetes\s+off\s+0\b' }) | Should -Not -BeNullOrEmpty
    }

    It 'completes queue names with Tab' {
        $completion = TabExpansion2 -inputScript 'Get-WandbLaunchQueue gp' -cursorColumn 23
        $completion.CompletionMatches.CompletionText | Should -Be @('gpu-a', 'gpu-b')
        $completion.ReplacementIndex | Should -Be 21
        $completion.ReplacementLength | Should -Be 2
    }

    It 'completes queue names for Set- and Remove-WandbLaunchQueue too' {
        (TabExpansion2 -inputScript 'Set-WandbLaunchQueue -Name cp' -cursorColumn 29).CompletionMatches.CompletionText | Should -Be @('cpu')
        (TabExpansion2 -inputScript 'Remove-WandbLaunchQueue sh' -cursorColumn 26).CompletionMatches.CompletionText | Should -Be @('shared')
    }

    It 'quotes a completed name that has a space' {
        New-WandbLaunchQueue -Name 'gpu big' -Resource local-process | Out-Null
        try {
            $script = 'Get-WandbLaunchQueue gpu'
            (TabExpansion2 -inputScript $script -cursorColumn $script.Length).CompletionMatches.CompletionText |
                Should -Be @("'gpu big'", 'gpu-a', 'gpu-b')
        }
        finally {
            Remove-WandbLaunchQueue 'gpu big' -Confirm:$false
        }
    }
}

Describe 'Set-WandbLaunchQueue' {
    BeforeEach { New-SeededStore }

    It 'changes only what is given: -Prioritization:$false' {
        $before = Get-WandbLaunchQueue seed
        $after = Set-WandbLaunchQueue seed -Prioritization:$false -PassThru
        $after.Prioritization | Should -BeFalse
        $after.Id | Should -BeExactly $before.Id
        $after.Resource | Should -BeExactly $before.Resource
        "$($after.Access)" | Should -BeExactly 'User'
        $after.ConfigurationJson | Should -BeExactly $before.ConfigurationJson
        ($after.TemplateVariables | ForEach-Object ToString) | Should -Be ($before.TemplateVariables | ForEach-Object ToString)
        $after.CreatedAt | Should -Be $before.CreatedAt
        (Get-WandbLaunchQueue seed).Prioritization | Should -BeFalse
    }

    It 'changes -Access and nothing else' {
        $before = Get-WandbLaunchQueue seed
        $after = Set-WandbLaunchQueue seed -Access Project -PassThru
        "$($after.Access)" | Should -BeExactly 'Project'
        $after.Prioritization | Should -BeTrue
        $after.ConfigurationJson | Should -BeExactly $before.ConfigurationJson
    }

    It 'renames with -NewName, keeping the queue''s identity and content' {
        $before = Get-WandbLaunchQueue seed
        $after = Set-WandbLaunchQueue seed -NewName renamed -PassThru
        $after.Name | Should -BeExactly 'renamed'
        $after.Id | Should -BeExactly $before.Id
        $after.ConfigurationJson | Should -BeExactly $before.ConfigurationJson
        $after.Prioritization | Should -BeTrue
        (Get-WandbLaunchQueue).Name | Should -Be @('renamed')
    }

    It 'replaces the configuration when it still fits the variables' {
        $after = Set-WandbLaunchQueue seed -Configuration "spec:`n  cpus: '{{cpus}}'`n  backoffLimit: 0" -PassThru
        $after.ConfigurationJson | Should -BeExactly '{"resource_args":{"kubernetes":{"spec":{"cpus":"{{cpus}}","backoffLimit":0}}}}'
        $after.Prioritization | Should -BeTrue
        $after.TemplateVariables.Name | Should -Be @('cpus')
    }

    It 'replaces configuration and variables together' {
        $after = Set-WandbLaunchQueue seed -Configuration @{ mem = '{{mem}}' } -TemplateVariable @{ mem = @{ type = 'string'; enum = '1g', '2g' } } -PassThru
        $after.ConfigurationJson | Should -BeExactly '{"resource_args":{"kubernetes":{"mem":"{{mem}}"}}}'
        $after.TemplateVariables.Name | Should -Be @('mem')
    }

    It 'reads a new configuration from -ConfigurationPath' {
        $file = Join-Path (New-TestDirectory) 'new.yaml'
        Set-Content $file "cpus: '{{cpus}}'"
        (Set-WandbLaunchQueue seed -ConfigurationPath $file -PassThru).ConfigurationJson |
            Should -BeExactly '{"resource_args":{"kubernetes":{"cpus":"{{cpus}}"}}}'
    }

    It 'writes nothing to the pipeline without -PassThru' {
        Set-WandbLaunchQueue seed -Prioritization:$false | Should -BeNullOrEmpty
    }

    It 'changes every queue piped to it' {
        New-WandbLaunchQueue -Name gpu-a -Resource local-process | Out-Null
        New-WandbLaunchQueue -Name gpu-b -Resource local-process | Out-Null
        $changed = Get-WandbLaunchQueue 'gpu*' | Set-WandbLaunchQueue -Prioritization -PassThru
        $changed.Name | Should -Be @('gpu-a', 'gpu-b')
        (Get-WandbLaunchQueue 'gpu*').Prioritization | Should -Be @($true, $true)
        (Get-WandbLaunchQueue seed).Prioritization | Should -BeTrue
    }

    It 'changes a queue in another project with -Project, leaving the default project''s alone' {
        New-WandbLaunchQueue -Name seed -Resource local-process -Project p1 | Out-Null
        Set-WandbLaunchQueue seed -Project p1 -Access User
        "$((Get-WandbLaunchQueue seed -Project p1).Access)" | Should -BeExactly 'User'
        (Get-WandbLaunchQueue seed).Resource | Should -BeExactly 'kubernetes'
    }

    It 'writes a non-terminating QueueNotFound for a missing queue and changes the others' {
        New-WandbLaunchQueue -Name other -Resource local-process | Out-Null
        Set-WandbLaunchQueue nope, other -Access User -ErrorVariable errs -ErrorAction SilentlyContinue
        $errs.Count | Should -Be 1
        $errs[0].FullyQualifiedErrorId | Should -BeExactly "QueueNotFound,$SetCmd"
        $errs[0].TargetObject | Should -BeExactly 'nope'
        "$((Get-WandbLaunchQueue other).Access)" | Should -BeExactly 'User'
    }

    Context 'refused changes leave the store unchanged' {
        BeforeEach { $script:before = Get-QueueSnapshot }
        AfterEach { Get-QueueSnapshot | Should -BeExactly $script:before -Because 'a refused change must not change the store' }

        It 're-validates a new configuration against the variables (TemplateVariableMissing)' {
            $err = { Set-WandbLaunchQueue seed -Configuration '{"cpus": "{{cpus}}", "mem": "{{mem}}"}' -ErrorAction Stop } |
                Should -Throw -ErrorId "TemplateVariableMissing,$SetCmd" -PassThru
            $err.Exception.Message | Should -BeLike '*{{mem}}*defined: cpus*'
        }

        It 're-validates a new configuration that drops a placeholder (TemplateVariableUnused)' {
            { Set-WandbLaunchQueue seed -Configuration '{"spec": {}}' -ErrorAction Stop } |
                Should -Throw -ErrorId "TemplateVariableUnused,$SetCmd"
        }

        It 're-validates new variables against the configuration' {
            { Set-WandbLaunchQueue seed -TemplateVariable @{} -ErrorAction Stop } |
                Should -Throw -ErrorId "TemplateVariableMissing,$SetCmd"
        }

        It 'refuses a bad variable schema' {
            { Set-WandbLaunchQueue seed -TemplateVariable @{ cpus = @{ type = 'integer'; minimum = 9; maximum = 1 } } -ErrorAction Stop } |
                Should -Throw -ErrorId "InvalidTemplateVariable,$SetCmd"
        }

        It 'refuses malformed configuration text' {
            { Set-WandbLaunchQueue seed -Configuration '{"spec": ' -ErrorAction Stop } |
                Should -Throw -ErrorId "InvalidQueueConfiguration,$SetCmd"
        }

        It 'refuses an invalid -NewName: <Case>' -TestCases @(
            @{ Case = 'empty'; NewName = '' }
            @{ Case = 'wildcard'; NewName = 'new*' }
            @{ Case = '65 characters'; NewName = 'n' * 65 }
        ) {
            { Set-WandbLaunchQueue seed -NewName $NewName -Prioritization:$false -ErrorAction Stop } |
                Should -Throw -ErrorId "InvalidQueueName,$SetCmd"
        }

        It 'refuses to rename onto an existing queue (QueueExists)' {
            New-WandbLaunchQueue -Name taken -Resource local-process | Out-Null
            $script:before = Get-QueueSnapshot
            { Set-WandbLaunchQueue seed -NewName taken -ErrorAction Stop } |
                Should -Throw -ErrorId "QueueExists,$SetCmd"
        }

        It 'changes nothing with -WhatIf' {
            Set-WandbLaunchQueue seed -Prioritization:$false -NewName whatif -WhatIf | Should -BeNullOrEmpty
        }
    }
}

Describe 'Remove-WandbLaunchQueue' {
    BeforeEach {
        New-TestStore | Out-Null
        foreach ($name in 'q1', 'q2', 'keep') { New-WandbLaunchQueue -Name $name -Resource local-process | Out-Null }
    }

    It 'removes the queues piped from Get-WandbLaunchQueue' {
        Get-WandbLaunchQueue q* | Remove-WandbLaunchQueue -Confirm:$false
        (Get-WandbLaunchQueue).Name | Should -Be @('keep')
    }

    It 'removes by wildcard' {
        Remove-WandbLaunchQueue 'q*' -Confirm:$false
        (Get-WandbLaunchQueue).Name | Should -Be @('keep')
    }

    It 'keeps the queue with -WhatIf' {
        Remove-WandbLaunchQueue q1 -WhatIf
        Get-WandbLaunchQueue q* | Remove-WandbLaunchQueue -WhatIf
        (Get-WandbLaunchQueue).Name | Should -Be @('keep', 'q1', 'q2')
    }

    It 'removes a piped queue from its own project only' {
        New-WandbLaunchQueue -Name q1 -Resource kubernetes -Project p1 | Out-Null
        Get-WandbLaunchQueue q1 -Project p1 | Remove-WandbLaunchQueue -Confirm:$false
        Get-WandbLaunchQueue -Project p1 | Should -BeNullOrEmpty
        (Get-WandbLaunchQueue q1).Resource | Should -BeExactly 'local-process'
    }

    It 'writes a non-terminating QueueNotFound for a missing name and removes the others' {
        Remove-WandbLaunchQueue nope, q1 -Confirm:$false -ErrorVariable errs -ErrorAction SilentlyContinue
        $errs.Count | Should -Be 1
        $errs[0].FullyQualifiedErrorId | Should -BeExactly "QueueNotFound,$RemoveCmd"
        (Get-WandbLaunchQueue).Name | Should -Be @('keep', 'q2')
    }

    It 'declares ConfirmImpact High, so it asks before deleting by default' {
        $command = Get-Command Remove-WandbLaunchQueue
        $attribute = $command.ImplementingType.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $false)[0]
        $attribute.SupportsShouldProcess | Should -BeTrue
        $attribute.ConfirmImpact | Should -Be ([System.Management.Automation.ConfirmImpact]::High)
        $command.Parameters.Keys | Should -Contain 'Confirm'
        $command.Parameters.Keys | Should -Contain 'WhatIf'
    }

    It 'declares SupportsShouldProcess on every queue cmdlet that changes state' {
        foreach ($name in 'New-WandbLaunchQueue', 'Set-WandbLaunchQueue', 'Remove-WandbLaunchQueue') {
            $attribute = (Get-Command $name).ImplementingType.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $false)[0]
            $attribute.SupportsShouldProcess | Should -BeTrue -Because "$name changes stored queues"
        }
    }
}

Describe 'Default entity and store selection' {
    BeforeEach { New-TestStore | Out-Null }
    AfterEach { $env:WANDB_ENTITY = $null }

    It 'creates queues in the WANDB_ENTITY entity, reading the variable at each call' {
        $env:WANDB_ENTITY = 'team-one'
        (New-WandbLaunchQueue -Name a -Resource local-process).Entity | Should -BeExactly 'team-one'
        $env:WANDB_ENTITY = 'team-two'
        (New-WandbLaunchQueue -Name b -Resource local-process).Entity | Should -BeExactly 'team-two'
        (Get-WandbLaunchQueue).Name | Should -Be @('b')
        $env:WANDB_ENTITY = $null
        (Get-WandbLaunchQueue -Entity team-one).Name | Should -Be @('a')
        Get-WandbLaunchQueue | Should -BeNullOrEmpty
    }

    It 'switches stores in one session with Connect-WandbLaunch -Path' {
        # Connect-WandbLaunch binds the whole session to a store, so this runs in its own pwsh.
        $dir = New-TestDirectory
        $result = Invoke-FreshPwshJson -Environment @{ WANDB_LAUNCH_DB = "$dir/env.db"; WANDB_ENTITY = $null } -Script @'
$ErrorActionPreference = 'Stop'
Import-Module $env:WBL_MODULE
$dir = Split-Path $env:WANDB_LAUNCH_DB
New-WandbLaunchQueue -Name in-env -Resource local-process | Out-Null
$a = Connect-WandbLaunch -Path "$dir/a.db"
New-WandbLaunchQueue -Name in-a -Resource local-process | Out-Null
Set-Location $dir
$b = Connect-WandbLaunch -Path ./b.db -Entity team-b
New-WandbLaunchQueue -Name in-b -Resource local-process | Out-Null
$inB = @(Get-WandbLaunchQueue | ForEach-Object { "$($_.Entity)/$($_.Name)" })
Connect-WandbLaunch -Path "$dir/a.db" | Out-Null
$inA = @(Get-WandbLaunchQueue | ForEach-Object Name)
$env:WANDB_LAUNCH_DB = "$dir/ignored.db"
$stillA = @(Get-WandbLaunchQueue | ForEach-Object Name)
[pscustomobject]@{
    A = $a; B = $b; InA = $inA; InB = $inB; StillA = $stillA
    IgnoredCreated = Test-Path "$dir/ignored.db"
    StoreOfA = (Get-WandbLaunchQueue in-a).Store
} | ConvertTo-Json -Compress -Depth 4
'@
        $result.A.Kind | Should -BeExactly 'Local'
        $result.A.Location | Should -BeExactly "$dir/a.db"
        $result.B.Location | Should -BeExactly "$dir/b.db" -Because 'a relative -Path is relative to the PowerShell location'
        $result.B.DefaultEntity | Should -BeExactly 'team-b'
        $result.InB | Should -Be @('team-b/in-b')
        $result.InA | Should -Be @('in-a')
        $result.StillA | Should -Be @('in-a') -Because 'a connected session ignores WANDB_LAUNCH_DB'
        $result.IgnoredCreated | Should -BeFalse
        $result.StoreOfA | Should -BeExactly "$dir/a.db"
        Test-Path "$dir/env.db" | Should -BeTrue
    }
}

Describe 'Queue list view: W&B''s prioritization mode with its meaning' {
    BeforeAll {
        New-TestStore | Out-Null
        New-WandbLaunchQueue -Name prio -Resource local-process -Prioritization | Out-Null
        New-WandbLaunchQueue -Name fifo -Resource local-process | Out-Null
    }

    It 'shows W&B''s mode with its meaning in the list view' {
        (Get-WandbLaunchQueue prio | Format-List | Out-String -Width 200) | Should -Match 'PrioritizationMode\s*:\s*V0 \(priorities on\)'
        (Get-WandbLaunchQueue fifo | Format-List | Out-String -Width 200) | Should -Match 'PrioritizationMode\s*:\s*DISABLED \(priorities off: first in, first out\)'
        (Get-WandbLaunchQueue prio).PrioritizationMode | Should -BeExactly 'V0'
    }
}
