package org.arabicnews.analysis;

import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.core.DecimalDigitFilter;
import org.elasticsearch.plugin.NamedComponent;
import org.elasticsearch.plugin.analysis.TokenFilterFactory;

/**
 * The stock {@code decimal_digit} token filter: any Unicode decimal digit (e.g. Arabic-Indic) to 0-9.
 * Also applied when normalizing multi-term queries, as the stock filter is.
 */
@NamedComponent("decimal_digit")
public class DecimalDigitFactory implements TokenFilterFactory {

    @Override
    public TokenStream create(TokenStream tokenStream) {
        return new DecimalDigitFilter(tokenStream);
    }

    @Override
    public TokenStream normalize(TokenStream tokenStream) {
        return create(tokenStream);
    }
}
