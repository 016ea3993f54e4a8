package org.arabicnews.analysis;

import java.util.List;

import org.elasticsearch.plugin.settings.AnalysisSettings;
import org.elasticsearch.plugin.settings.ListSetting;

/** The settings the stock {@code arabic} analyzer type accepts, bound by the server from the index settings. */
@AnalysisSettings
public interface ArabicAnalyzerSettings {

    /** Stop words: absent or {@code _arabic_} for Lucene's default list, {@code _none_} for none, else the words. */
    @ListSetting(path = "stopwords")
    List<String> stopwords();

    /** Words that must not be stemmed. */
    @ListSetting(path = "stem_exclusion")
    List<String> stemExclusion();
}
