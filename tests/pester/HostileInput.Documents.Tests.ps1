# Hostile documents and values given to the cmdlets: alias bombs, 20,000 levels of nesting, hashtables that contain
# themselves, NaN and infinities, fractional priorities, NUL characters. Each must come back as an ErrorRecord with
# its own id, store nothing, and leave pwsh running: the cases that used to end the session (a stack overflow cannot
# be caught) run in a child pwsh, whose exit code and output prove that it survived.
BeforeAll {
    . $PSScriptRoot/Common.ps1
    Import-Module $ModulePath -Force

    $script:SavedEntity = $env:WANDB_ENTITY
    $env:WANDB_ENTITY = $null

    $script:NewQueueId = 'WandbLaunch.Queues.NewWandbLaunchQueueCommand'
    $script:SetQueueId = 'WandbLaunch.Queues.SetWandbLaunchQueueCommand'
    $script:SubmitId = 'WandbLaunch.Jobs.SubmitWandbLaunchJobCommand'

    # 10^7 values from a few hundred bytes.
    $script:AliasBomb = @'
a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol,lol]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]
'@

    function Invoke-Refused {
        <#
        Runs a cmdlet call in a child pwsh against the store at $Store and returns what it reported: the error id,
        the message, how many queues and jobs the store holds afterwards, and how long the call took. The child
        writes its report as JSON; a crashed child (stack overflow) has no report and fails the test.
        #>
        param([Parameter(Mandatory)] [string] $Store, [Parameter(Mandatory)] [string] $Call, [int] $TimeoutSeconds = 120)
        $script = @"
Import-Module `$env:WBL_MODULE
`$clock = [Diagnostics.Stopwatch]::StartNew()
`$report = [ordered]@{ Id = `$null; Message = `$null }
try { $Call -ErrorAction Stop | Out-Null; `$report.Id = 'no error' }
catch { `$report.Id = (`$_.FullyQualifiedErrorId -split ',')[0]; `$report.Message = `$_.Exception.Message }
`$report.Seconds = `$clock.Elapsed.TotalSeconds
`$report.Queues = @(Get-WandbLaunchQueue).Count
`$report.Jobs = @(Get-WandbLaunchJob).Count
`$report | ConvertTo-Json -Compress
"@
        Invoke-FreshPwshJson -Script $script -Environment @{ WANDB_LAUNCH_DB = $Store; WANDB_ENTITY = $null; WBL_BOMB = $script:AliasBomb } -TimeoutSeconds $TimeoutSeconds
    }

    function Get-ErrorId {
        <# The error id of the ErrorRecord a call in this session throws (with -ErrorAction Stop). #>
        param([Parameter(Mandatory)] [scriptblock] $Call)
        try { & $Call | Out-Null } catch { return $_ }
        throw 'The call did not fail.'
    }
}

AfterAll {
    $env:WANDB_ENTITY = $script:SavedEntity
    Remove-TestDirectories
}

Describe 'New-WandbLaunchQueue and Set-WandbLaunchQueue with hostile documents (in a child pwsh)' {
    BeforeAll {
        $script:Store = New-TestStore
        New-WandbLaunchQueue -Name seed -Resource local-process -Configuration '{"env": {"A": "1"}}' | Out-Null
        $script:Snapshot = Get-QueueSnapshot
    }

    It 'refuses a YAML alias bomb given as text fast, with DocumentAliasExpansionTooLarge' {
        $report = Invoke-Refused $Store "New-WandbLaunchQueue -Name bomb -Resource local-process -Configuration `$env:WBL_BOMB"
        $report.Id | Should -BeExactly 'DocumentAliasExpansionTooLarge'
        $report.Message | Should -Match '1,000,000 values'
        $report.Seconds | Should -BeLessThan 30
        $report.Queues | Should -Be 1
    }

    It 'refuses a YAML alias bomb given as a file, naming the file' {
        $file = Join-Path (New-TestDirectory) 'bomb.yaml'
        Set-Content -Path $file -Value $AliasBomb
        $report = Invoke-Refused $Store "New-WandbLaunchQueue -Name bomb -Resource local-process -ConfigurationPath '$file'"
        $report.Id | Should -BeExactly 'DocumentAliasExpansionTooLarge'
        $report.Message | Should -Match ([regex]::Escape($file))
        $report.Queues | Should -Be 1
    }

    It 'refuses 20,000 levels of <Kind> with DocumentTooDeep, naming the limit' -ForEach @(
        @{ Kind = 'YAML flow lists'; Text = 'x: ' + ('[' * 20000) + (']' * 20000) }
        @{ Kind = 'YAML flow mappings'; Text = 'x: ' + ('{a: ' * 20000) + '1' + ('}' * 20000) }
        @{ Kind = 'JSON objects'; Text = ('{"a": ' * 20000) + '1' + ('}' * 20000) }
        @{ Kind = 'JSON lists'; Text = ('[' * 20000) + (']' * 20000) }
    ) {
        $file = Join-Path (New-TestDirectory) 'deep.txt'
        Set-Content -Path $file -Value $Text -NoNewline
        $report = Invoke-Refused $Store "New-WandbLaunchQueue -Name deep -Resource local-process -Configuration (Get-Content -Raw '$file')"
        $report.Id | Should -BeExactly 'DocumentTooDeep'
        $report.Message | Should -Match '64 levels'
        $report.Queues | Should -Be 1
    }

    It 'refuses a hashtable that contains itself with ValueReferencesItself' {
        $report = Invoke-Refused $Store '$h = @{ cpus = 1 }; $h.self = $h; New-WandbLaunchQueue -Name self -Resource local-process -Configuration $h'
        $report.Id | Should -BeExactly 'ValueReferencesItself'
        $report.Message | Should -Match 'self'
        $report.Queues | Should -Be 1
    }

    It 'refuses a PSCustomObject that contains itself with ValueReferencesItself' {
        $report = Invoke-Refused $Store '$o = [pscustomobject]@{ a = 1 }; $o | Add-Member self $o; New-WandbLaunchQueue -Name self -Resource local-process -Configuration $o'
        $report.Id | Should -BeExactly 'ValueReferencesItself'
        $report.Queues | Should -Be 1
    }

    It 'refuses 20,000 levels of nested <Kind> with ValueTooDeep' -ForEach @(
        @{ Kind = 'hashtables'; Build = '$v = 1; foreach ($i in 1..20000) { $v = @{ a = $v } }' }
        @{ Kind = 'arrays in hashtables'; Build = '$v = 1; foreach ($i in 1..20000) { $v = @{ a = @(, $v) } }' }
    ) {
        $report = Invoke-Refused $Store "$Build; New-WandbLaunchQueue -Name deep -Resource local-process -Configuration `$v"
        $report.Id | Should -BeExactly 'ValueTooDeep'
        $report.Queues | Should -Be 1
    }

    It 'refuses a self-referencing template variable schema with ValueReferencesItself' {
        $report = Invoke-Refused $Store '$s = @{ type = "integer" }; $s.self = $s; New-WandbLaunchQueue -Name tv -Resource local-process -TemplateVariable @{ n = $s }'
        $report.Id | Should -BeExactly 'ValueReferencesItself'
        $report.Queues | Should -Be 1
    }

    It 'Set-WandbLaunchQueue refuses an alias bomb and keeps the queue as it was' {
        $report = Invoke-Refused $Store "Set-WandbLaunchQueue -Name seed -Configuration `$env:WBL_BOMB"
        $report.Id | Should -BeExactly 'DocumentAliasExpansionTooLarge'
        Get-QueueSnapshot | Should -BeExactly $Snapshot
    }
}

Describe 'numbers given to the queue cmdlets (in this session)' {
    BeforeAll {
        New-TestStore | Out-Null
        New-WandbLaunchQueue -Name seed -Resource local-container -Configuration @{ cpus = 2 } | Out-Null
        $script:Snapshot = Get-QueueSnapshot
    }

    It 'refuses <Case> with <Id> and stores nothing' -ForEach @(
        @{ Case = 'NaN in a hashtable'; Id = 'NumberNotFinite'; Call = { New-WandbLaunchQueue -Name n -Resource local-container -Configuration @{ cpus = [double]::NaN } -ErrorAction Stop } }
        @{ Case = 'an infinity in a hashtable'; Id = 'NumberNotFinite'; Call = { New-WandbLaunchQueue -Name n -Resource local-container -Configuration @{ memory = [double]::PositiveInfinity } -ErrorAction Stop } }
        @{ Case = '1e400 in YAML'; Id = 'NumberNotFinite'; Call = { New-WandbLaunchQueue -Name n -Resource local-container -Configuration "cpus: 1e400" -ErrorAction Stop } }
        @{ Case = '1e400 in JSON'; Id = 'NumberNotFinite'; Call = { New-WandbLaunchQueue -Name n -Resource local-container -Configuration '{"cpus": 1e400}' -ErrorAction Stop } }
        @{ Case = '1e30 CPUs'; Id = 'InvalidContainerArgument'; Call = { New-WandbLaunchQueue -Name n -Resource local-container -Configuration @{ cpus = 1e30 } -ErrorAction Stop } }
        @{ Case = 'negative memory'; Id = 'InvalidContainerArgument'; Call = { New-WandbLaunchQueue -Name n -Resource local-container -Configuration @{ memory = -512 } -ErrorAction Stop } }
        @{ Case = 'a NaN template default'; Id = 'NumberNotFinite'; Call = { New-WandbLaunchQueue -Name n -Resource local-container -TemplateVariable @{ c = @{ type = 'number'; default = [double]::NaN } } -ErrorAction Stop } }
        @{ Case = 'an environment name with ='; Id = 'InvalidEnvironmentVariableName'; Call = { New-WandbLaunchQueue -Name n -Resource local-container -Configuration @{ env = @{ 'A=B' = '1' } } -ErrorAction Stop } }
        @{ Case = 'Set-WandbLaunchQueue with NaN'; Id = 'NumberNotFinite'; Call = { Set-WandbLaunchQueue -Name seed -Configuration @{ cpus = [double]::NaN } -ErrorAction Stop } }
    ) {
        $err = Get-ErrorId $Call
        ($err.FullyQualifiedErrorId -split ',')[0] | Should -BeExactly $Id
        $err.Exception.Message | Should -Not -Match 'System\.'
        Get-QueueSnapshot | Should -BeExactly $Snapshot
    }
}

Describe 'Submit-WandbLaunchJob with hostile values' {
    BeforeAll {
        $script:Store = New-TestStore
        New-WandbLaunchQueue -Name plain -Resource local-process | Out-Null
        New-WandbLaunchQueue -Name prio -Resource local-process -Prioritization | Out-Null
        New-WandbLaunchQueue -Name box -Resource local-container | Out-Null
        $script:Code = New-TestDirectory
    }

    It 'refuses -Priority <Priority> at parameter binding, naming the allowed values, before anything is stored' -ForEach @(
        @{ Priority = 2.7 }, @{ Priority = 4 }, @{ Priority = -1 }, @{ Priority = 1e9 }, @{ Priority = [double]::NaN }
    ) {
        $err = Get-ErrorId { Submit-WandbLaunchJob -Queue prio -Uri $Code -EntryPoint true -Priority $Priority -ErrorAction Stop }
        # PowerShell's binder refuses what is not one of the enum's values (it neither rounds 2.7 nor takes 4).
        $err.FullyQualifiedErrorId | Should -BeExactly "CannotConvertArgumentNoMessage,$SubmitId"
        $err.Exception.Message | Should -Match 'Critical, ?High, ?Medium, ?Low'
        $err.Exception.Message | Should -Match ([regex]::Escape("$Priority"))
        @(Get-WandbLaunchJob).Count | Should -Be 0
    }

    It 'refuses the spec priority <Priority> with InvalidPriority instead of rounding it' -ForEach @(
        @{ Priority = '2.7' }, @{ Priority = '4' }, @{ Priority = '-1' }, @{ Priority = '1e9' }, @{ Priority = '"2.7"' }
    ) {
        $spec = "{`"uri`": `"$Code`", `"priority`": $Priority}"
        $err = Get-ErrorId { Submit-WandbLaunchJob -Queue prio -Spec $spec -ErrorAction Stop }
        $err.FullyQualifiedErrorId | Should -BeExactly "InvalidPriority,$SubmitId"
        @(Get-WandbLaunchJob).Count | Should -Be 0
    }

    It 'refuses <Case> with <Id>' -ForEach @(
        @{ Case = 'NUL in an argument'; Id = 'ValueContainsNul'; Call = { Submit-WandbLaunchJob -Queue plain -Uri $Code -EntryPoint true -Arguments "a`0b" -ErrorAction Stop } }
        @{ Case = 'NUL in the entry point'; Id = 'ValueContainsNul'; Call = { Submit-WandbLaunchJob -Queue plain -Uri $Code -EntryPoint "python`0evil" -ErrorAction Stop } }
        @{ Case = 'NaN in -RunConfig'; Id = 'NumberNotFinite'; Call = { Submit-WandbLaunchJob -Queue plain -Uri $Code -EntryPoint true -RunConfig @{ lr = [double]::NaN } -ErrorAction Stop } }
        @{ Case = 'an empty environment name'; Id = 'InvalidEnvironmentVariableName'; Call = { Submit-WandbLaunchJob -Queue plain -Uri $Code -EntryPoint true -ResourceArgs @{ env = @{ '' = '1' } } -ErrorAction Stop } }
        @{ Case = 'an environment name with ='; Id = 'InvalidEnvironmentVariableName'; Call = { Submit-WandbLaunchJob -Queue box -DockerImage 'img:1' -ResourceArgs @{ e = @('=x') } -ErrorAction Stop } }
        @{ Case = '1e30 CPUs'; Id = 'InvalidContainerArgument'; Call = { Submit-WandbLaunchJob -Queue box -DockerImage 'img:1' -ResourceArgs @{ cpus = 1e30 } -ErrorAction Stop } }
        @{ Case = 'negative shm-size'; Id = 'InvalidContainerArgument'; Call = { Submit-WandbLaunchJob -Queue box -DockerImage 'img:1' -ResourceArgs @{ 'shm-size' = -1 } -ErrorAction Stop } }
    ) {
        $err = Get-ErrorId $Call
        $err.FullyQualifiedErrorId | Should -BeExactly "$Id,$SubmitId"
        $err.Exception.Message.Contains([char]0) | Should -BeFalse
        @(Get-WandbLaunchJob).Count | Should -Be 0
    }

    It 'refuses a -RunConfig that contains itself without ending the session (child pwsh)' {
        $report = Invoke-Refused $Store "`$c = @{ lr = 0.1 }; `$c.self = `$c; Submit-WandbLaunchJob -Queue plain -Uri '$Code' -EntryPoint true -RunConfig `$c"
        $report.Id | Should -BeExactly 'ValueReferencesItself'
        $report.Jobs | Should -Be 0
    }

    It 'refuses a spec file holding an alias bomb (child pwsh)' {
        $file = Join-Path (New-TestDirectory) 'spec.yaml'
        Set-Content -Path $file -Value ("uri: $Code`n" + $AliasBomb)
        $report = Invoke-Refused $Store "Submit-WandbLaunchJob -Queue plain -Spec '$file'"
        $report.Id | Should -BeExactly 'DocumentAliasExpansionTooLarge'
        $report.Jobs | Should -Be 0
    }
}

Describe 'Test-WandbLaunchAgentConfig with a hostile launch-config.yaml' {
    It 'reports <Id> for <Case>' -ForEach @(
        @{ Case = 'an alias bomb'; Id = 'DocumentAliasExpansionTooLarge'; Text = $null }
        @{ Case = '20,000 levels'; Id = 'DocumentTooDeep'; Text = 'queues: ' + ('[' * 20000) }
    ) {
        $text = if ($Text) { $Text } else { $AliasBomb }
        $err = Get-ErrorId { Test-WandbLaunchAgentConfig -Content $text -ErrorAction Stop }
        ($err.FullyQualifiedErrorId -split ',')[0] | Should -BeExactly $Id
    }

    It 'refuses a -Path with a NUL character with ValueContainsNul, not a raw ArgumentException' {
        $err = Get-ErrorId { Test-WandbLaunchAgentConfig -Path "launch-config.yaml`0.bak" -ErrorAction Stop }
        ($err.FullyQualifiedErrorId -split ',')[0] | Should -BeExactly 'ValueContainsNul'
        $err.Exception.Message.Contains([char]0) | Should -BeFalse
    }
}
