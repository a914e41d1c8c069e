# Module-wide rules. Every rule runs over what the module exports, or over every cmdlet class in our assemblies, so a
# new cmdlet is checked without touching this file; each failure names the command or class that breaks the rule.

BeforeDiscovery {
    . $PSScriptRoot/Common.ps1
    Import-Module $ModulePath -Force

    # Verbs whose commands change nothing outside the session: the read-only verbs, and Connect/Disconnect, which
    # only choose the store this session uses (-WhatIf would have nothing to preview). Every other verb (New, Set,
    # Remove, Start, Stop, Submit, ...) changes state and must support ShouldProcess: a new verb is held to that
    # until someone decides to add it here.
    $stateKeepingVerbs = 'Get', 'Find', 'Search', 'Test', 'Measure', 'Compare', 'Resolve', 'Show', 'Wait', 'Watch',
        'Read', 'ConvertFrom', 'ConvertTo', 'Format', 'Connect', 'Disconnect'

    $commands = @(Get-Command -Module WandbLaunch | Sort-Object Name | ForEach-Object {
            @{ Name = $_.Name; Verb = $_.Verb; SetCount = @($_.ParameterSets).Count }
        })
    $stateChanging = @($commands | Where-Object { $_.Verb -notin $stateKeepingVerbs })
    $removers = @($commands | Where-Object Verb -EQ 'Remove')
    $multiSet = @($commands | Where-Object SetCount -GT 1)

    $cmdletAttribute = [System.Management.Automation.CmdletAttribute]
    $cmdletClasses = @([AppDomain]::CurrentDomain.GetAssemblies() |
            Where-Object { $_.GetName().Name -like 'WandbLaunch*' } |
            ForEach-Object { $_.GetTypes() } |
            Where-Object { $_.IsDefined($cmdletAttribute, $false) } |
            Sort-Object FullName |
            ForEach-Object {
                $attribute = $_.GetCustomAttributes($cmdletAttribute, $false)[0]
                @{ TypeName = $_.FullName; Type = $_; Verb = $attribute.VerbName; Noun = $attribute.NounName }
            })
    $cmdletNames = @{ Names = @($cmdletClasses | ForEach-Object { "$($_.Verb)-$($_.Noun)" } | Sort-Object) }
}

BeforeAll {
    . $PSScriptRoot/Common.ps1
    Import-Module $ModulePath -Force

    $manifest = Import-PowerShellDataFile $SourceManifestPath
    $module = Get-Module WandbLaunch
    $commonParameters = [System.Management.Automation.Cmdlet]::CommonParameters + 'UseTransaction'
    $viewTypeNames = @(foreach ($file in $manifest.FormatsToProcess) {
            [xml] $format = Get-Content -Raw (Join-Path (Split-Path $SourceManifestPath) $file)
            $format.SelectNodes('//View/ViewSelectedBy/TypeName') | ForEach-Object InnerText
        })

    function Get-ModuleCommand([string] $Name) { Get-Command -Module WandbLaunch -Name $Name }

    function Get-CommandMetadata([string] $Name) { [System.Management.Automation.CommandMetadata]::new((Get-ModuleCommand $Name)) }
}

Describe 'WandbLaunch module quality' {
    Context 'Manifest' {
        It 'lists <_> explicitly, without wildcards' -ForEach 'CmdletsToExport', 'FunctionsToExport', 'AliasesToExport', 'VariablesToExport' {
            # A missing key exports everything.
            $manifest.Keys | Should -Contain $_
            @($manifest[$_]) | Where-Object { [WildcardPattern]::ContainsWildcardCharacters($_) } | Should -BeNullOrEmpty
        }

        It 'exports exactly the cmdlet classes defined in the assembly' -ForEach $cmdletNames {
            $Names | Should -Not -BeNullOrEmpty
            @($manifest.CmdletsToExport | Sort-Object) | Should -Be $Names
            @($module.ExportedCmdlets.Keys | Sort-Object) | Should -Be $Names
        }

        It 'exports no functions or aliases it does not declare' {
            @($module.ExportedFunctions.Keys | Sort-Object) | Should -Be @($manifest.FunctionsToExport | Sort-Object)
            @($module.ExportedAliases.Keys | Sort-Object) | Should -Be @($manifest.AliasesToExport | Sort-Object)
        }
    }

    Context 'Cmdlet classes' {
        It '<TypeName> is public and sealed' -ForEach $cmdletClasses {
            $Type.IsPublic | Should -BeTrue
            $Type.IsSealed | Should -BeTrue
        }

        It '<TypeName> is named <Verb><Noun>Command' -ForEach $cmdletClasses {
            $Type.Name | Should -BeExactly "$Verb$($Noun)Command"
        }
    }

    Context 'Commands' {
        It '<Name> uses an approved verb' -ForEach $commands {
            (Get-Verb).Verb | Should -Contain $Verb
        }

        It '<Name> supports -WhatIf and -Confirm, because its verb changes state' -ForEach $stateChanging {
            (Get-CommandMetadata $Name).SupportsShouldProcess | Should -BeTrue
        }

        It '<Name> asks before it removes (ConfirmImpact High)' -ForEach $removers {
            (Get-CommandMetadata $Name).ConfirmImpact | Should -Be High
        }

        It '<Name> declares an [OutputType]' -ForEach $commands {
            (Get-ModuleCommand $Name).OutputType | Should -Not -BeNullOrEmpty
        }

        It '<Name> has a format view for each output type from our assemblies' -ForEach $commands {
            $ours = foreach ($output in (Get-ModuleCommand $Name).OutputType) {
                $typeName = if ($output.Type) { $output.Type.FullName } else { $output.Name }
                $assembly = if ($output.Type) { $output.Type.Assembly.GetName().Name } else { $typeName }
                if ($assembly -like 'WandbLaunch*') { $typeName }
            }
            $ours | Where-Object { $_ -notin $viewTypeNames } | Should -BeNullOrEmpty -Because 'each needs a view in FormatsToProcess'
        }

        It '<Name> has help with at least one example with code' -ForEach $commands {
            $examples = @((Get-Help $Name -Examples).examples.example)
            $examples.Count | Should -BeGreaterThan 0
            $examples | Where-Object { -not "$($_.code)".Trim() } | ForEach-Object title | Should -BeNullOrEmpty
        }

        It '<Name> has a help description for every parameter' -ForEach $commands {
            $described = @((Get-Help $Name -Full).parameters.parameter |
                    Where-Object { (@($_.description) | ForEach-Object Text) -join '' -match '\S' } |
                    ForEach-Object name)
            (Get-ModuleCommand $Name).Parameters.Keys |
                Where-Object { $_ -notin $commonParameters -and $_ -notin $described } |
                Should -BeNullOrEmpty
        }

        It '<Name> names each of its parameter sets' -ForEach $multiSet {
            (Get-ModuleCommand $Name).ParameterSets.Name | Should -Not -Contain '__AllParameterSets'
        }
    }
}
